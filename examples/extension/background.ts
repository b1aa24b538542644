// Adds "Where was this photo taken?" to the context menu of images; the answer opens in the extension's
// own page (locate.html), where WebGPU is available and the models stay cached between images.
const MENU_ID = 'geolens-locate';

chrome.runtime.onInstalled.addListener(() => {
  chrome.contextMenus.create({ id: MENU_ID, title: 'Where was this photo taken?', contexts: ['image'] });
});

chrome.contextMenus.onClicked.addListener((info) => {
  if (info.menuItemId !== MENU_ID || !info.srcUrl) return;
  const page = chrome.runtime.getURL(`locate.html?src=${encodeURIComponent(info.srcUrl)}`);
  void chrome.tabs.create({ url: page });
});
