// Ask for a password reset link by mail, or, opened from that link, choose the new password.

import * as api from './api.js';
import {h, notify, onSubmit, renderAccount} from './layout.js';
import {takeToken} from './mail-link.js';

const askForm = document.getElementById('ask');
const chooseForm = document.getElementById('choose');
const token = takeToken();

onSubmit(askForm, async (data) => {
  await api.requestPasswordReset(data.get('email'));
  askForm.hidden = true;
  notify(`If ${data.get('email')} has an account, a message with the link is on its way.`,
    'success');
});

onSubmit(chooseForm, async (data) => {
  await api.resetPassword(token, data.get('new_password'));
  chooseForm.hidden = true;
  // Every session of the account ended, this tab's too.
  api.forgetSession();
  notify(['Your password is set. ', h('a', {href: '/login.html'}, 'Sign in')], 'success');
});

askForm.hidden = Boolean(token);
chooseForm.hidden = !token;
renderAccount().catch((error) => notify(error.message, 'error'));
