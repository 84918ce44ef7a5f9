import { strict as assert } from 'node:assert';
import { completionsAt, cursorContext, hoverAt, keyAt, policyOutline } from '../../extension/core/policy/assist';
import { POLICY_DOCS } from '../../extension/core/policy/docs';
import { parsePolicy } from '../../extension/core/policy/parse';
import { policyTemplate } from '../../extension/core/policy/template';

/** The cursor is where `|` is; returns the text without it and the position. */
function at(marked: string): [string, number, number] {
  const index = marked.indexOf('|');
  const before = marked.slice(0, index).split('\n');
  return [marked.replace('|', ''), before.length - 1, (before[before.length - 1] as string).length];
}

const labels = (marked: string) => completionsAt(...at(marked)).map((c) => c.label);

describe('policy language assistance (completion, hover, template)', () => {
  it('documents every key of the schema, so hover never comes up empty', () => {
    const missing: string[] = [];
    const walk = (keys: ReturnType<typeof policyOutline>) => {
      for (const key of keys) {
        if (!key.doc) missing.push(key.path);
        walk(key.children ?? []);
        walk(key.itemKeys ?? []);
      }
    };
    walk(policyOutline());
    assert.deepEqual(missing, []);
    // and no documentation for keys that do not exist (a renamed key would leave a stale entry)
    const stale = Object.keys(POLICY_DOCS).filter(
      (path) => !path.endsWith('[]') && !keyAt(path.replace(/\[\]/g, '.[]').split('.').filter(Boolean)),
    );
    assert.deepEqual(stale, []);
  });

  it('completes top-level keys at the root and nested keys by indentation', () => {
    assert.ok(labels('|').includes('lanes'));
    assert.ok(labels('tar|').includes('target'));
    assert.deepEqual(labels('merge:\n  |').sort(), [
      'blocking_labels',
      'method',
      'required_approvals',
      'required_checks',
      'wait_for_target_green',
      'when_behind',
    ]);
    assert.deepEqual(labels('incidents:\n  global_hold:\n    |').sort(), ['on_cross_lane', 'on_tier3_incident', 'paused_lanes_at_least']);
    // back out to the parent mapping when the indentation says so
    assert.ok(labels('incidents:\n  global_hold:\n    on_cross_lane: true\n  |').includes('fix_retries'));
  });

  it('completes the keys of list items in both indented and compact sequences', () => {
    const laneKeys = ['checks', 'labels', 'name', 'paths', 'tests'];
    assert.deepEqual(labels('lanes:\n  - |').sort(), laneKeys);
    assert.deepEqual(labels('lanes:\n  - name: web\n    |').sort(), laneKeys);
    assert.deepEqual(labels('lanes:\n- name: web\n  paths: ["web/**"]\n- name: api\n  |').sort(), laneKeys);
    assert.deepEqual(labels('local:\n  checks:\n    - name: t\n      |').sort(), ['junit', 'name', 'run']);
  });

  it('completes enum and boolean values after a key', () => {
    assert.deepEqual(labels('merge:\n  method: |'), ['merge', 'squash', 'rebase']);
    assert.deepEqual(labels('autonomy:\n  fix: A|'), ['A0', 'A1', 'A2', 'A3', 'A4', 'A5']);
    assert.deepEqual(labels('merge:\n  wait_for_target_green: |'), ['true', 'false']);
    assert.ok(labels('incidents:\n  classify:\n    - match: disk\n      class: |').includes('infra'));
    assert.deepEqual(labels('eligibility:\n  flaky: |'), ['fix', 'quarantine', 'revert', 'escalate']);
    assert.ok(labels('merge:\n  required_checks: |').includes('all'));
    assert.deepEqual(labels('target: |'), [], 'a free-text value has nothing to complete');
  });

  it('finds the context of a cursor after comments and blank lines', () => {
    const context = cursorContext(...at('merge:\n  # how changes land\n\n  method: sq|'));
    assert.deepEqual(context, { parents: ['merge'], mode: 'value', key: 'method', prefix: 'sq' });
  });

  it('hovers a key with its documentation, type and default, and an enum value with its meaning', () => {
    const hover = hoverAt(...at('merge:\n  met|hod: squash'));
    assert.ok(hover);
    assert.match(hover.contents, /\*\*merge\.method\*\*/);
    assert.match(hover.contents, /Default: `"squash"`/);
    assert.equal(hover.start, 2);
    assert.equal(hover.end, 8);
    const value = hoverAt(...at('incidents:\n  classify:\n    - match: x\n      class: inf|ra'));
    assert.match(value?.contents ?? '', /machine or network/);
    assert.equal(hoverAt(...at('nonsense_key|: 1')), undefined);
  });

  it('writes a starter policy that is valid and proposes a lane per top-level folder', () => {
    const text = policyTemplate(['web', 'api', 'node_modules', '.github', 'docs']);
    const result = parsePolicy(text);
    assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
    assert.deepEqual(
      result.policy.lanes.map((l) => l.name),
      ['web', 'api', 'docs'],
    );
    assert.deepEqual(result.policy.lanes[0]?.paths, ['web/**']);
    const empty = parsePolicy(policyTemplate([]));
    assert.ok(empty.ok);
    assert.equal(empty.policy.lanes.length, 1);
  });
});
