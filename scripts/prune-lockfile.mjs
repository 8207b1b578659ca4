// Removes, from package-lock.json, optional dependencies that the lockfile holds no entry for.
//
// The package registry this project is built against does not serve some platform-specific
// optional packages (for example @rollup/rollup-android-arm-eabi, @unrs/resolver-binding-*), so
// `npm install` leaves them out of the lockfile while their parents still list them, and
// `npm ci` then refuses the lockfile as out of sync. Run `npm run lockfile:prune` after every
// `npm install` that changes the lockfile. The packages for this platform (linux x64) are kept.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const present = new Set(
  Object.keys(lock.packages).map((path) => path.replace(/^.*node_modules\//, '')),
);
let pruned = 0;
for (const entry of Object.values(lock.packages)) {
  if (!entry.optionalDependencies) continue;
  const kept = Object.entries(entry.optionalDependencies).filter(([name]) => present.has(name));
  pruned += Object.keys(entry.optionalDependencies).length - kept.length;
  entry.optionalDependencies = kept.length > 0 ? Object.fromEntries(kept) : undefined;
}
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(
  `package-lock.json: pruned ${pruned} optional dependencies the registry does not serve`,
);
