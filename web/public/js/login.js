// Sign in, or create an account and sign in with it; then back to where the visitor came from.

import * as api from './api.js';
import {notify, renderAccount} from './layout.js';

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

function submitting(form, handler) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await handler(new FormData(form));
      location.assign(next());
    } catch (error) {
      notify(error.message, 'error');
      button.disabled = false;
    }
  });
}

submitting(signInForm, (data) => api.signIn(data.get('email'), data.get('password')));

submitting(registerForm, async (data) => {
  await api.register({
    email: data.get('email'),
    password: data.get('password'),
    display_name: data.get('display_name') || undefined,
    as_creator: data.get('as_creator') === 'on',
  });
  await api.signIn(data.get('email'), data.get('password'));
});

document.getElementById('show-register').addEventListener('click', () => toggle(true));
document.getElementById('show-sign-in').addEventListener('click', () => toggle(false));
renderAccount().catch((error) => notify(error.message, 'error'));
