// Sign up and log in. Errors sit next to their fields; the API's answer is the authority.
import { useState } from 'preact/hooks';
import { api, ApiError, errorMessage, session, type User } from '../api.js';
import { Field, Message, PageTitle } from '../ui.js';

interface Props {
  next: string;
  onSignedIn: (user: User) => void;
}
type Errors = Record<string, string>;

async function logIn(username: string, password: string): Promise<string> {
  const token = await api<{ access_token: string }>('/auth/login', { method: 'POST', body: { username, password }, auth: false });
  return token.access_token;
}

function useForm() {
  const [errors, setErrors] = useState<Errors>({});
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (check: () => Errors, action: () => Promise<void>, fieldOfCode: Record<string, string> = {}) => {
    const found = check();
    setErrors(found);
    setProblem(null);
    if (Object.keys(found).length) {
      (document.getElementById(Object.keys(found)[0]!) as HTMLInputElement | null)?.focus();
      return;
    }
    setBusy(true);
    try {
      await action();
    } catch (err) {
      const field = err instanceof ApiError ? fieldOfCode[err.code] : undefined;
      if (err instanceof ApiError && field) setErrors({ [field]: err.message });
      else if (err instanceof ApiError && Object.keys(err.fields).length) setErrors(err.fields);
      setProblem(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return { errors, problem, busy, run };
}

export function LoginPage({ next, onSignedIn }: Props) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const form = useForm();
  const submit = (e: Event) => {
    e.preventDefault();
    void form.run(
      () => ({ ...(username.trim() ? {} : { username: 'Enter your username or e-mail address.' }), ...(password ? {} : { password: 'Enter your password.' }) }),
      async () => {
        const token = await logIn(username.trim(), password);
        const user = await api<User>('/auth/me', { headers: { authorization: `Bearer ${token}` }, auth: false });
        session.set(token, user);
        onSignedIn(user);
        location.hash = next;
      },
    );
  };
  return (
    <section class="narrow">
      <PageTitle title="Log in">Log in</PageTitle>
      {form.problem && <Message kind="error">{form.problem}</Message>}
      <form noValidate onSubmit={submit}>
        <Field id="username" label="Username or e-mail" error={form.errors.username}>
          {(aria) => <input {...aria} name="username" autoComplete="username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} />}
        </Field>
        <Field id="password" label="Password" error={form.errors.password}>
          {(aria) => <input {...aria} type="password" name="password" autoComplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />}
        </Field>
        <button type="submit" disabled={form.busy}>
          Log in
        </button>
      </form>
      <p>
        New here? <a href={`#/signup?next=${encodeURIComponent(next)}`}>Create an account</a>
      </p>
    </section>
  );
}

export function SignupPage({ next, onSignedIn }: Props) {
  const [username, setUsername] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const form = useForm();
  const submit = (e: Event) => {
    e.preventDefault();
    void form.run(
      () => {
        const errors: Errors = {};
        if (!/^[A-Za-z0-9_.-]{3,50}$/.test(username)) errors.username = '3-50 characters: letters, digits, "_", "." or "-".';
        if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) errors.email = 'Enter an e-mail address such as you@example.com.';
        if (password.length < 8) errors.password = 'At least 8 characters.';
        return errors;
      },
      async () => {
        const user = await api<User>('/auth/register', { method: 'POST', body: { username, email, password }, auth: false });
        session.set(await logIn(username, password), user);
        onSignedIn(user);
        location.hash = next;
      },
      { username_taken: 'username', email_taken: 'email' },
    );
  };
  return (
    <section class="narrow">
      <PageTitle title="Sign up">Create an account</PageTitle>
      {form.problem && <Message kind="error">{form.problem}</Message>}
      <form noValidate onSubmit={submit}>
        <Field id="username" label="Username" error={form.errors.username} hint="3-50 letters, digits, “_”, “.” or “-”">
          {(aria) => <input {...aria} name="username" autoComplete="username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} />}
        </Field>
        <Field id="email" label="E-mail" error={form.errors.email}>
          {(aria) => <input {...aria} type="email" name="email" autoComplete="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />}
        </Field>
        <Field id="password" label="Password" error={form.errors.password} hint="At least 8 characters">
          {(aria) => <input {...aria} type="password" name="password" autoComplete="new-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />}
        </Field>
        <button type="submit" disabled={form.busy}>
          Create account
        </button>
      </form>
      <p>
        Have an account? <a href={`#/login?next=${encodeURIComponent(next)}`}>Log in</a>
      </p>
    </section>
  );
}
