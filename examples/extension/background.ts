import { readSettings, SETTINGS_KEY, type ToOffscreen } from './messages.js';

// The service worker: adds "Where was this photo taken?" to images' context menu, keeps one offscreen
// document alive (it holds the loaded models, reused by every right-click) and opens the answer page.
const MENU_ID = 'geolens-locate';
const OFFSCREEN = 'offscreen.html';

chrome.runtime.onInstalled.addListener(() => {
  chrome.contextMenus.create({ id: MENU_ID, title: 'Where was this photo taken?', contexts: ['image'] });
});

let creating: Promise<void> | null = null;

/** Creates the offscreen document once; later calls find it (the models inside stay loaded). */
async function ensureOffscreen(): Promise<void> {
  const url = chrome.runtime.getURL(OFFSCREEN);
  const existing = await chrome.runtime.getContexts({ contextTypes: [chrome.runtime.ContextType.OFFSCREEN_DOCUMENT], documentUrls: [url] });
  if (existing.length > 0) return;
  creating ??= chrome.offscreen
    .createDocument({ url: OFFSCREEN, reasons: [chrome.offscreen.Reason.WORKERS], justification: 'keeps the geolocation models loaded on the GPU between right-clicks' })
    .finally(() => (creating = null));
  await creating;
}

async function locateImage(src: string): Promise<void> {
  await ensureOffscreen();
  await chrome.tabs.create({ url: chrome.runtime.getURL(`locate.html?src=${encodeURIComponent(src)}`) });
}

chrome.contextMenus.onClicked.addListener((info) => {
  if (info.menuItemId === MENU_ID && info.srcUrl) void locateImage(info.srcUrl);
});

// Pages ask for the offscreen document before talking to it (the popup may open first); the offscreen
// document, which may use chrome.runtime only, asks here for the stored options.
chrome.runtime.onMessage.addListener((message: { target?: string; type?: string }, _sender, reply) => {
  if (message.target !== 'background') return undefined;
  if (message.type === 'ensure-offscreen') ensureOffscreen().then(() => reply({ ok: true }), (error: Error) => reply({ ok: false, message: error.message }));
  else if (message.type === 'settings') readSettings().then(reply, () => reply({}));
  else return undefined;
  return true;
});

// New options reload the models (only then: everything else reuses them).
chrome.storage.onChanged.addListener((changes) => {
  if (SETTINGS_KEY in changes) void chrome.runtime.sendMessage({ target: 'offscreen', type: 'reload' } satisfies ToOffscreen).catch(() => {});
});
