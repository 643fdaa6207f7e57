// Ask for a password reset link by mail, or, opened from that link, choose the new password.

import * as api from './api.js';
import {h, notify, renderAccount} from './layout.js';
import {takeToken} from './mail-link.js';

const askForm = document.getElementById('ask');
const chooseForm = document.getElementById('choose');
const token = takeToken();

function submitting(form, handler) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await handler(new FormData(form));
      form.hidden = true;
    } catch (error) {
      notify(error.message, 'error');
      button.disabled = false;
    }
  });
}

submitting(askForm, async (data) => {
  await api.requestPasswordReset(data.get('email'));
  notify(`If ${data.get('email')} has an account, a message with the link is on its way.`,
    'success');
});

submitting(chooseForm, async (data) => {
  await api.resetPassword(token, data.get('new_password'));
  // Every session of the account ended, this tab's too.
  api.forgetSession();
  notify(['Your password is set. ', h('a', {href: '/login.html'}, 'Sign in')], 'success');
});

askForm.hidden = Boolean(token);
chooseForm.hidden = !token;
renderAccount().catch((error) => notify(error.message, 'error'));
