// The console's socket to /counsellor: connecting, and every call that the server answers. A
// reply is read only once checked for an error: ask() hands back the reply, which is either a
// refusal ({error}) or the answer; must() throws Refused for a refusal, so that nothing
// destructures one as if it were an answer.
import { call } from "./relay.js";

export let socket = null;

export function connect(token) {
  socket = window.io("/counsellor", { auth: { token }, transports: ["websocket"] });
  return socket;
}

// A refusal by the server, with its error code (chatserver/errors.py ErrorCode).
export class Refused extends Error {
  constructor(ack) {
    super("refused: " + String(ack.error));
    this.ack = ack;
  }
}

export const ask = (event, payload) => socket.emitWithAck(event, payload);

export async function must(event, payload) {
  const ack = await ask(event, payload);
  if (ack.error) throw new Refused(ack);
  return ack;
}

// Where everything stands; relay.js's call rejects on a refusal or a timeout.
export const sync = () => call(socket, "sync", {});
