// Who an approval or a pause is recorded as: the signed-in GitHub account when
// there is one, else the operating-system user (the CLI records the same).
import { userInfo } from 'node:os';

let signedIn: string | undefined;

export function setSignedInAccount(label: string | undefined): void {
  signedIn = label;
}

export function operatorName(): string {
  if (signedIn) return signedIn;
  try {
    return process.env.USER ?? userInfo().username;
  } catch {
    return 'operator';
  }
}
