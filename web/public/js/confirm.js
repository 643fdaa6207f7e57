// Create the account of a registration link that came by mail.

import * as api from './api.js';
import {notify, renderAccount} from './layout.js';
import {takeToken} from './mail-link.js';

const status = document.getElementById('confirming');

async function confirm() {
  const token = takeToken();
  if (!token) {
    status.textContent = 'This page needs the link from the confirmation message.';
    return;
  }
  try {
    const account = await api.confirmRegistration(token);
    status.textContent = `Your account ${account.email} is ready.`;
    notify('Account created: sign in to start.', 'success');
  } catch (error) {
    status.textContent = 'No account was created.';
    notify(error.message, 'error');
  }
}

confirm();
renderAccount().catch((error) => notify(error.message, 'error'));
