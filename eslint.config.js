// ESLint over our own browser code (console, widget, jslib) and the JS tests: the recommended
// rules, and the ones that catch what a browser would only find at run time.
"use strict";
const js = require("@eslint/js");
const globals = require("globals");

const rules = {
  ...js.configs.recommended.rules,
  "no-unused-vars": ["error", { args: "after-used", caughtErrors: "none" }],
  "no-undef": "error",
  eqeqeq: ["error", "always"],
  "no-implicit-globals": "error",
};

module.exports = [
  { ignores: ["node_modules/", ".venv/", "bench/", "var/", "**/*.min.js"] },
  {
    files: ["counsellor_console/static/**/*.js", "widget/static/**/*.js", "jslib/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      // tweetnacl and socket.io are loaded as classic scripts before the modules.
      globals: { ...globals.browser, nacl: "readonly", io: "readonly" },
    },
    rules,
  },
  {
    // Classic scripts: their top-level names would be globals of the host page.
    files: ["widget/static/embed.js"],
    languageOptions: { sourceType: "script" },
  },
  {
    files: ["widget/static/pow-worker.js"],
    languageOptions: { globals: { ...globals.worker } },
  },
  {
    files: ["jslib/test/**/*.mjs"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: { ...globals.node } },
    rules,
  },
  { files: ["eslint.config.js"], languageOptions: { sourceType: "commonjs", globals: { ...globals.node } } },
];
