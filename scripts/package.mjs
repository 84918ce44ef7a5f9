// Packages the extension as build-master.vsix with vsce (bundles only: the
// dependencies are inside dist/, so node_modules is not shipped).
import { createVSIX } from '@vscode/vsce';

await createVSIX({ cwd: process.cwd(), packagePath: 'build-master.vsix', dependencies: false, allowMissingRepository: true, skipLicense: false });
console.log('packaged build-master.vsix');
