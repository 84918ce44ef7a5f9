// Packages the extension as build-master.vsix with vsce (bundles only: the
// dependencies are inside dist/, so node_modules is not shipped).
import { createVSIX } from '@vscode/vsce';

// The README links the documentation in docs/ relatively; there is no public
// repository URL to rewrite those links to, so they are kept as written.
await createVSIX({
  cwd: process.cwd(),
  packagePath: 'build-master.vsix',
  dependencies: false,
  allowMissingRepository: true,
  rewriteRelativeLinks: false,
  skipLicense: false,
});
console.log('packaged build-master.vsix');
