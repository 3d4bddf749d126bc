// Who is signed in (as the last sync said) and the reload store (null without IndexedDB, or
// once wiped): read by every module, set only by the wiring in console.js.
export let me = null;
export let reload = null;

export function setMe(value) { me = value; }
export function setReload(value) { reload = value; }
