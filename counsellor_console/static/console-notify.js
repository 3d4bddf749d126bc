// The console's notifications (notifications.js): the counsellor's choices kept on the server,
// tone, desktop notice, and the unread count in the title and on the favicon, in the page's
// one language.
import { createNotifications } from "./notifications.js";
import { $, csrf } from "./console-page.js";
import { t } from "./console-i18n.js";

export const notices = createNotifications({ t, container: $("notify-settings"), base: document.title, csrf });
