import { COMMON_PASSWORDS } from './common-passwords.js';

// NIST SP 800-63B, 5.1.1.2 (memorized secrets): at least 8 characters, no composition rules,
// refused when it is a commonly used or breached password, a repetition of one character, or a
// context-specific word (here: the username and the e-mail address).
export const MIN_PASSWORD_LENGTH = 8;
const COMMON = new Set(COMMON_PASSWORDS.split('\n'));

/** Why `password` is refused for this account, as a message for the `password` field, or null when it is fine. */
export function passwordWeakness(password: string, account: { username: string; email: string }): string | null {
  // Characters as a person counts them (code points after the same NFKC normalization hashing uses).
  const normalized = password.normalize('NFKC');
  if ([...normalized].length < MIN_PASSWORD_LENGTH) return `must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (/^(.)\1*$/su.test(normalized)) return 'must not be a single character repeated';
  const lower = normalized.toLowerCase();
  if (COMMON.has(lower)) return 'is one of the most common passwords (found in breached-password lists): choose another';
  const email = account.email.toLowerCase();
  if (lower === account.username.toLowerCase() || lower === email || lower === email.split('@')[0]) return 'must not be your username or e-mail address';
  return null;
}
