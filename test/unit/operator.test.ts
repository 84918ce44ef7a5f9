import { strict as assert } from 'node:assert';
import { initialState } from '../../extension/core/decide';
import { applyOperator, type OperatorCommand } from '../../extension/core/operator';
import { policyFrom, THREE_LANES } from '../support/builders';

describe('operator commands name only real lanes and approvals', () => {
  // Words an operator can type that an ordinary object answers through its prototype.
  const PROTOTYPE_WORDS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

  it('refuses every prototype word as a lane or an approval, and changes no object in the process', () => {
    const state = initialState(policyFrom(THREE_LANES), 0);
    for (const word of PROTOTYPE_WORDS) {
      const commands: OperatorCommand[] = [
        { kind: 'pause', lane: word, reason: 'x', by: 'ann' },
        { kind: 'resume', lane: word, by: 'ann' },
        { kind: 'approve', id: word, by: 'ann' },
        { kind: 'reject', id: word, reason: 'no', by: 'ann' },
      ];
      for (const command of commands) {
        const result = applyOperator(state, command, 1);
        assert.equal(result.ok, false, `${command.kind} ${word} was accepted`);
        assert.match(result.code, /^unknown-(lane|approval)$/);
      }
    }
    const plain: Record<string, unknown> = {};
    assert.equal(plain.state, undefined, 'Object.prototype gained a `state`');
    assert.equal(plain.operatorPaused, undefined, 'Object.prototype gained an `operatorPaused`');
    assert.equal(plain.status, undefined, 'Object.prototype gained a `status`');
  });
});
