// Money from the API is a decimal string ("19.99"); it is shown as it comes and compared as
// integer cents, never as a float.
import { MONEY } from './route.js';

/** "19.9" -> 1990; null when the text is not a price the API accepts. */
export function cents(text: string): number | null {
  if (!MONEY.test(text)) return null;
  const [whole = '0', fraction = ''] = text.split('.');
  return Number(whole) * 100 + Number(fraction.padEnd(2, '0'));
}

/** "19.9" -> "19.90": pads the API's string, computes nothing (the API names no currency). */
export function formatMoney(text: string): string {
  const [whole = '0', fraction = ''] = text.split('.');
  return `${whole}.${fraction.padEnd(2, '0').slice(0, 2)}`;
}
