import { strict as assert } from 'node:assert';
import { parseUnifiedDiff } from '../../extension/core/diff';

const DIFF = `diff --git a/web/app.js b/web/app.js
index 1111111..2222222 100644
--- a/web/app.js
+++ b/web/app.js
@@ -1,3 +1,4 @@ function main
 const a = 1;
-const b = 2;
+const b = 3;
+const c = 4;
 export { a };
\\ No newline at end of file
diff --git a/docs/new.md b/docs/new.md
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/docs/new.md
@@ -0,0 +1 @@
+# hello
diff --git a/old.txt b/renamed.txt
similarity index 100%
rename from old.txt
rename to renamed.txt
diff --git a/logo.png b/logo.png
deleted file mode 100644
index 4444444..0000000
Binary files a/logo.png and /dev/null differ
`;

describe('diff: parsing git unified diffs for the review panel', () => {
  it('reads files, statuses, counts and hunks with line numbers on both sides', () => {
    const { files, truncated } = parseUnifiedDiff(DIFF);
    assert.equal(truncated, false);
    assert.deepEqual(
      files.map((f) => [f.path, f.status, f.additions, f.deletions, f.binary]),
      [
        ['web/app.js', 'modified', 2, 1, false],
        ['docs/new.md', 'added', 1, 0, false],
        ['renamed.txt', 'renamed', 0, 0, false],
        ['logo.png', 'deleted', 0, 0, true],
      ],
    );
    assert.equal(files[2]?.oldPath, 'old.txt');
    const hunk = files[0]?.hunks[0];
    assert.equal(hunk?.header, '@@ -1,3 +1,4 @@ function main');
    assert.deepEqual(hunk.lines, [
      { kind: 'ctx', text: 'const a = 1;', oldLine: 1, newLine: 1 },
      { kind: 'del', text: 'const b = 2;', oldLine: 2 },
      { kind: 'add', text: 'const b = 3;', newLine: 2 },
      { kind: 'add', text: 'const c = 4;', newLine: 3 },
      { kind: 'ctx', text: 'export { a };', oldLine: 3, newLine: 4 },
    ]);
  });

  it('cuts very long files but still counts every line', () => {
    const body = Array.from({ length: 2500 }, (_, i) => `+line ${i}`).join('\n');
    const { files, truncated } = parseUnifiedDiff(`diff --git a/big b/big\n--- a/big\n+++ b/big\n@@ -0,0 +1,2500 @@\n${body}\n`);
    assert.equal(truncated, true);
    assert.equal(files[0]?.additions, 2500);
    assert.equal(files[0].hunks[0]?.lines.length, 2000);
  });
});
