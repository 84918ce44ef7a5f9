// What a fix may touch: the write scope of an incident's lanes. The command
// worker enforces it on every commit of a fix; the controller hands its globs
// to whichever worker writes the fix.
import picomatch from 'picomatch';
import { laneOfFile } from './classify';
import type { Incident } from './model';
import type { Policy } from './policy/schema';

/** The paths a fix for this incident may touch: its lane's globs (the default lane: files no lane owns). */
export function writeScope(policy: Policy, incident: Incident): { globs: string[]; allows: (file: string) => boolean } {
  const lanes = incident.lanes.length ? incident.lanes : [policy.default_lane];
  const globs = lanes.flatMap((name) => policy.lanes.find((lane) => lane.name === name)?.paths ?? []);
  const ownsDefault = lanes.includes(policy.default_lane) && !policy.lanes.some((lane) => lane.name === policy.default_lane);
  const match = globs.length ? picomatch(globs, { dot: true }) : () => false;
  return {
    globs: ownsDefault ? [...globs, '(any file no lane owns)'] : globs,
    allows: (file) => match(file) || (ownsDefault && laneOfFile(policy, file) === policy.default_lane),
  };
}
