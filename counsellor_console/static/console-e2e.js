// The chat protocol, its long-lived half and the console's side of it, as one namespace.
import * as core from "./e2e.js";
import * as keys from "./e2e-keys.js";
import * as counsellor from "./e2e-counsellor.js";

export const e2e = { ...core, ...keys, ...counsellor };
