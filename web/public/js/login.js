// Sign in and go back to where the visitor came from, or ask for an account (confirmed by mail).

import * as api from './api.js';
import {notify, onSubmit, renderAccount} from './layout.js';

const signInForm = document.getElementById('sign-in');
const registerForm = document.getElementById('register');

function next() {
  // Only a page of this site: never send the visitor elsewhere after signing in. The target is
  // resolved as the browser would resolve it ("/\\evil.example" is another host), then kept only
  // when it stays on this origin.
  const target = new URLSearchParams(location.search).get('next') ?? '/';
  let url;
  try {
    url = new URL(target, location.origin);
  } catch {
    return '/';
  }
  return url.origin === location.origin ? url.pathname + url.search + url.hash : '/';
}

function toggle(showRegister) {
  registerForm.hidden = !showRegister;
  signInForm.hidden = showRegister;
  notify('');
}

onSubmit(signInForm, async (data) => {
  await api.signIn(data.get('email'), data.get('password'));
  location.assign(next());
});

onSubmit(registerForm, async (data) => {
  await api.register({
    email: data.get('email'),
    password: data.get('password'),
    display_name: data.get('display_name') || undefined,
    as_creator: data.get('as_creator') === 'on',
  });
  registerForm.reset();
  toggle(false);
  notify(
    `We sent a message to ${data.get('email')}. Open the link in it to create your account, ` +
      'then sign in here.',
    'success',
  );
});

document.getElementById('show-register').addEventListener('click', () => toggle(true));
document.getElementById('show-sign-in').addEventListener('click', () => toggle(false));
renderAccount().catch((error) => notify(error.message, 'error'));
