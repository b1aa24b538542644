// Options: weight locations, kept in chrome.storage.local; the offscreen document reloads on a change.
import { readSettings, SETTINGS_KEY, type StoredSettings } from './messages.js';

const FIELDS = ['clip', 'clipConfig', 'geoclip', 'gallery', 'concepts'] as const;
const input = (id: string) => document.getElementById(id) as HTMLInputElement;

void readSettings().then((settings) => {
  for (const field of FIELDS) input(field).value = settings[field] ?? '';
  input('f16').checked = !!settings.f16;
});

document.getElementById('save')!.addEventListener('click', async () => {
  const settings: StoredSettings = { f16: input('f16').checked };
  for (const field of FIELDS) {
    const value = input(field).value.trim();
    if (value) settings[field] = value;
  }
  await chrome.storage.local.set({ [SETTINGS_KEY]: settings });
  document.getElementById('saved')!.textContent = 'Saved.';
});
