// The login page derives nothing: signing in unlocks no key (docs/protocol.md, "Key custody").
// Whoever sees this page is signed out, or their session ended: the console's unlocked keys
// kept for that session go, and so does the wrap key an older console left in sessionStorage.
import { forgetKeys } from "./keys.js";

sessionStorage.removeItem("erstkontakt-wrap");
forgetKeys();
