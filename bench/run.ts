// `npm run bench`: every benchmark, one after another (tables on stdout, JSON in bench/results/).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

for (const name of ['core', 'operator', 'local', 'github', 'vscode']) {
  console.log(`\n## ${name}\n`);
  execFileSync(process.execPath, ['--import', 'tsx', join(__dirname, `${name}.bench.ts`)], { stdio: 'inherit' });
}
