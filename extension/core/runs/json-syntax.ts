// Where JSON text first goes wrong, and how. JSON.parse says so only sometimes (Node 20 leaves the
// position out of many messages), and a planner's plan problem must name its line.

/** Deeper nesting than this is no plan (and would only exhaust the stack). */
const MAX_DEPTH = 256;

class SyntaxProblem extends Error {
  constructor(
    readonly at: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** The first syntax error in `text` as strict JSON (offset and reason), or undefined when it is valid JSON. */
export function jsonSyntaxError(text: string): { at: number; reason: string } | undefined {
  const reader = new Reader(text);
  try {
    reader.value(0);
    reader.space();
    if (reader.i < text.length) reader.fail('more text after the end of the JSON value');
    return undefined;
  } catch (error) {
    if (error instanceof SyntaxProblem) return { at: error.at, reason: error.reason };
    throw error;
  }
}

class Reader {
  i = 0;
  constructor(private readonly text: string) {}

  fail(reason: string): never {
    throw new SyntaxProblem(this.i, this.i >= this.text.length ? 'the JSON ends too early' : reason);
  }

  space(): void {
    while (this.i < this.text.length && ' \t\n\r'.includes(this.text.charAt(this.i))) this.i++;
  }

  value(depth: number): void {
    if (depth > MAX_DEPTH) this.fail(`nested more than ${MAX_DEPTH} levels deep`);
    this.space();
    const c = this.text.charAt(this.i);
    if (c === '{') this.object(depth);
    else if (c === '[') this.array(depth);
    else if (c === '"') this.string();
    else if (c === '-' || (c >= '0' && c <= '9')) this.number();
    else if (!['true', 'false', 'null'].some((word) => this.literal(word))) this.fail(`unexpected ${describe(c)} where a value belongs`);
  }

  private literal(word: string): boolean {
    if (!this.text.startsWith(word, this.i)) return false;
    this.i += word.length;
    return true;
  }

  private object(depth: number): void {
    this.i++;
    this.space();
    if (this.text.charAt(this.i) === '}') {
      this.i++;
      return;
    }
    for (;;) {
      this.space();
      if (this.text.charAt(this.i) === '}') this.fail('a comma before "}" (JSON allows no trailing comma)');
      if (this.text.charAt(this.i) !== '"') this.fail(`expected a key in double quotes, found ${describe(this.text.charAt(this.i))}`);
      this.string();
      this.space();
      if (this.text.charAt(this.i) !== ':') this.fail(`expected ":" after the key, found ${describe(this.text.charAt(this.i))}`);
      this.i++;
      this.value(depth + 1);
      this.space();
      const next = this.text.charAt(this.i);
      this.i++;
      if (next === '}') return;
      if (next !== ',') {
        this.i--;
        this.fail(`expected "," or "}" after a value, found ${describe(next)}`);
      }
    }
  }

  private array(depth: number): void {
    this.i++;
    this.space();
    if (this.text.charAt(this.i) === ']') {
      this.i++;
      return;
    }
    for (;;) {
      this.space();
      if (this.text.charAt(this.i) === ']') this.fail('a comma before "]" (JSON allows no trailing comma)');
      this.value(depth + 1);
      this.space();
      const next = this.text.charAt(this.i);
      this.i++;
      if (next === ']') return;
      if (next !== ',') {
        this.i--;
        this.fail(`expected "," or "]" after a value, found ${describe(next)}`);
      }
    }
  }

  private string(): void {
    this.i++;
    while (this.i < this.text.length) {
      const c = this.text.charAt(this.i);
      if (c === '"') {
        this.i++;
        return;
      }
      if (c < ' ') this.fail('a line break or control character inside a string (write it as \\n)');
      if (c === '\\') {
        const escape = this.text.charAt(this.i + 1);
        if (
          escape === 'u'
            ? !/^[0-9a-fA-F]{4}$/.test(this.text.slice(this.i + 2, this.i + 6))
            : !'"\\/bfnrt'.includes(escape) || escape === ''
        ) {
          this.fail('a bad escape in a string');
        }
        this.i += escape === 'u' ? 6 : 2;
      } else this.i++;
    }
    this.fail('a string never ends');
  }

  private number(): void {
    const match = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    match.lastIndex = this.i;
    if (!match.test(this.text)) this.fail('a malformed number');
    this.i = match.lastIndex;
  }
}

function describe(c: string): string {
  return c === '' ? 'the end' : c === '\n' ? 'a line break' : JSON.stringify(c);
}
