// Bundles a guest's entry module and the SDK into the one ES module componentize-js takes,
// with jco's own bundler (rolldown). The WIT imports (`auto-workflow:*`, `wasi:*`) stay
// external: componentize-js binds them. The guest imports the SDK as 'aw'.
//   node bundle.mjs TOOLS_DIR ENTRY.js OUT.js SDK_INDEX.js
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const [modules, entry, out, sdk] = process.argv.slice(2);
const require = createRequire(`${modules}/node_modules/@bytecodealliance/jco/package.json`);
const { rolldown } = await import(pathToFileURL(require.resolve('rolldown')).href);
const bundle = await rolldown({
  input: entry,
  external: [/^auto-workflow:/, /^wasi:/],
  resolve: { alias: { aw: sdk } },
  logLevel: 'warn',
});
await bundle.write({ file: out, format: 'esm', codeSplitting: false });
