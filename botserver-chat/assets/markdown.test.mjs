// Tests of the chat page's Markdown renderer: node botserver-chat/assets/markdown.test.mjs
// (node >= 18, no dependencies). Exits non-zero when a test fails.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { renderMarkdown, safeUrl } = require('./chat.js');

let failed = 0;
function test(name, fn) {
  try {
    fn();
    console.log('ok   ' + name);
  } catch (e) {
    failed++;
    console.log('FAIL ' + name + '\n     ' + String(e.message).split('\n').join('\n     '));
  }
}

const TAGS = new Set(['p', 'strong', 'em', 'code', 'pre', 'a', 'img', 'ul', 'ol', 'li', 'br', 'h1', 'h2', 'h3', 'blockquote']);
const ATTRS = { a: new Set(['href', 'title', 'target', 'rel']), img: new Set(['src', 'alt', 'title']) };
const unescape = (s) => s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]);

// The output is only allowed tags with allowed, quoted attributes and safe URLs; all other
// text is escaped (no raw < > " ' outside tags).
function assertSafe(html, input) {
  const ctx = '\n  input: ' + JSON.stringify(input) + '\n  html:  ' + JSON.stringify(html);
  const tagRe = /<(\/?)([a-zA-Z0-9]+)((?:\s+[a-z]+="[^"<>]*")*)\s*>/g;
  const open = [];
  let m;
  while ((m = tagRe.exec(html))) {
    const [, close, name, attrs] = m;
    assert.ok(TAGS.has(name), 'tag <' + name + '> is not allowed' + ctx);
    if (close) assert.equal(open.pop(), name, '</' + name + '> closes the wrong element' + ctx);
    else if (name !== 'br' && name !== 'img') open.push(name);
    if (close) assert.equal(attrs, '', 'closing tag with attributes' + ctx);
    for (const [, attr, value] of attrs.matchAll(/\s+([a-z]+)="([^"]*)"/g)) {
      assert.ok(ATTRS[name] && ATTRS[name].has(attr), 'attribute ' + attr + ' on <' + name + '>' + ctx);
      assert.ok(!/&(?!(amp|lt|gt|quot|#39);)/.test(value), 'unescaped & in attribute' + ctx);
      if (attr === 'href') assert.ok(safeUrl(unescape(value), 'link') !== null, 'unsafe href ' + value + ctx);
      if (attr === 'src') assert.ok(safeUrl(unescape(value), 'image') !== null, 'unsafe src ' + value + ctx);
      if (attr === 'target') assert.equal(value, '_blank', ctx);
      if (attr === 'rel') assert.equal(value, 'noopener noreferrer', ctx);
    }
    if (name === 'a' && !close) assert.match(attrs, /target="_blank" rel="noopener noreferrer"/, 'link without target/rel' + ctx);
  }
  assert.deepEqual(open, [], 'elements left open' + ctx);
  const text = html.replace(tagRe, '');
  assert.ok(!/[<>"']/.test(text), 'raw markup character outside an allowed tag' + ctx);
  assert.ok(!/&(?!(amp|lt|gt|quot|#39);)/.test(text), 'unescaped & in text' + ctx);
}

const LINK = (href, text) => '<a href="' + href + '" target="_blank" rel="noopener noreferrer">' + text + '</a>';

/* ------------------------------------------------------------------- XSS --- */

const payloads = {
  '<script>alert(1)</script>': '<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>',
  '<img src=x onerror=alert(1)>': '<p>&lt;img src=x onerror=alert(1)&gt;</p>',
  '[x](javascript:alert(1))': '<p>[x](javascript:alert(1))</p>',
  '![x](javascript:alert(1))': '<p>![x](javascript:alert(1))</p>',
  '[x](data:text/html;base64,PHNjcmlwdD4=)': '<p>[x](data:text/html;base64,PHNjcmlwdD4=)</p>',
  '"><svg onload=alert(1)>': '<p>&quot;&gt;&lt;svg onload=alert(1)&gt;</p>',
};
for (const [input, expected] of Object.entries(payloads)) {
  test('XSS payload renders as text: ' + input, () => {
    const html = renderMarkdown(input);
    assertSafe(html, input);
    assert.equal(html, expected);
  });
}

const obfuscated = [
  '[x](JaVaScRiPt:alert(1))',
  '[x](java\tscript:alert(1))',
  '[x](java\nscript:alert(1))',
  '[x](&#106;avascript:alert(1))',
  '[x](&#x6A;avascript:alert(1))',
  '[x](%6Aavascript:alert(1))',
  '[x]( javascript:alert(1))',
  '[x](\u0001javascript:alert(1))',
  '[x](vbscript:msgbox(1))',
  '[x](data:text/html,<script>alert(1)</script>)',
  '[x](//evil.example/)',
  '[x](/\\evil.example/)',
  '[x](\\\\evil.example/)',
  '[x](file:///etc/passwd)',
  '![x](data:image/svg+xml;base64,PHN2Zz4=)',
  '![x](data:text/html;base64,PHNjcmlwdD4=)',
  '![x](vbscript:x)',
  '![x](/relative.png)',
  '![x](mailto:a@b.c)',
];
test('obfuscated and other unsafe schemes render as text', () => {
  for (const input of obfuscated) {
    const html = renderMarkdown(input);
    assertSafe(html, input);
    assert.ok(!/<a |<img /.test(html), 'made a link or image: ' + JSON.stringify(input) + ' -> ' + html);
  }
});

test('attribute breakouts stay inside the quotes', () => {
  const cases = [
    '[x](https://a.example/"onmouseover="alert(1))',
    "[x](https://a.example/'onmouseover='alert(1))",
    '[x](https://a.example/ "t\\" onmouseover=\\"alert(1)")',
    '[x](https://a.example/ "a" onclick="b")',
    '![a" onerror="alert(1)](https://a.example/i.png)',
    '![x](https://a.example/i.png"onerror="alert(1))',
    '[<b>x</b>](https://a.example/)',
    'https://a.example/"><script>alert(1)</script>',
    '`<script>`',
    '```\n</code></pre><script>alert(1)</script>\n```',
    '# <h1 onclick=x>',
    '> <blockquote onclick=x>',
    '- <li onclick=x>',
    '**<b>**',
  ];
  for (const input of cases) assertSafe(renderMarkdown(input), input);
  assert.equal(renderMarkdown('![a" onerror="x](https://a.example/i.png)'),
    '<p><img src="https://a.example/i.png" alt="a&quot; onerror=&quot;x"></p>');
});

test('safeUrl allow-list', () => {
  for (const u of ['https://a.example/x?y=1&z=2', 'http://a.example', 'HTTPS://A.EXAMPLE/', 'mailto:a@b.example', '/docs/x', '/']) {
    assert.equal(safeUrl(u, 'link'), u, u);
  }
  for (const u of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'java\tscript:alert(1)', ' javascript:x',
    '&#106;avascript:alert(1)', 'vbscript:x', 'data:text/html;base64,PHNjcmlwdD4=', '//evil.example', '/\\evil.example',
    'https:evil.example', 'https:///x', 'x', 'ftp://a.example', '', null, undefined, 42, {}]) {
    assert.equal(safeUrl(u, 'link'), null, JSON.stringify(u));
  }
  assert.equal(safeUrl('data:image/png;base64,iVBORw0KGgo=', 'image'), 'data:image/png;base64,iVBORw0KGgo=');
  assert.equal(safeUrl('data:image/webp;base64,UklGRg==', 'image'), 'data:image/webp;base64,UklGRg==');
  assert.equal(safeUrl('https://a.example/i.png', 'image'), 'https://a.example/i.png');
  for (const u of ['data:image/svg+xml;base64,PHN2Zz4=', 'data:image/png,raw', 'data:image/png;base64,<x>',
    'data:text/html;base64,PHNjcmlwdD4=', 'javascript:x', '/local.png', 'mailto:a@b.c']) {
    assert.equal(safeUrl(u, 'image'), null, u);
  }
  assert.equal(safeUrl('data:image/png;base64,iVBORw0KGgo=', 'link'), null);
});

/* --------------------------------------------------------- normal Markdown --- */

const cases = [
  ['bold', '**bold** and __also__', '<p><strong>bold</strong> and <strong>also</strong></p>'],
  ['italic', '*it* and _it_', '<p><em>it</em> and <em>it</em></p>'],
  ['bold italic', '***both***', '<p><strong><em>both</em></strong></p>'],
  ['no emphasis inside words or lone stars', 'snake_case_name and 2 * 3 * 4', '<p>snake_case_name and 2 * 3 * 4</p>'],
  ['inline code is escaped and literal', 'run `a<b && **c**`', '<p>run <code>a&lt;b &amp;&amp; **c**</code></p>'],
  ['code block', '```js\nif (a < b) {\n  **x** <i>\n}\n```', '<pre><code>if (a &lt; b) {\n  **x** &lt;i&gt;\n}</code></pre>'],
  ['unclosed code block runs to the end', '```\nx', '<pre><code>x</code></pre>'],
  ['unordered list', '- one\n- **two**\n* three', '<ul><li>one</li><li><strong>two</strong></li><li>three</li></ul>'],
  ['ordered list', '1. one\n2. two', '<ol><li>one</li><li>two</li></ol>'],
  ['list after a paragraph', 'Pick:\n- a\n- b\nDone', '<p>Pick:</p><ul><li>a</li><li>b</li></ul><p>Done</p>'],
  ['link', '[site](https://example.com/?a=1&b=2)', '<p>' + LINK('https://example.com/?a=1&amp;b=2', 'site') + '</p>'],
  ['link with title', '[s](https://e.example "The title")',
    '<p><a href="https://e.example" target="_blank" rel="noopener noreferrer" title="The title">s</a></p>'],
  ['link text with emphasis', '[**go**](/docs)', '<p>' + LINK('/docs', '<strong>go</strong>') + '</p>'],
  ['mailto link', '[mail](mailto:a@b.example)', '<p>' + LINK('mailto:a@b.example', 'mail') + '</p>'],
  ['bare URL', 'see https://e.example/a_b_c.', '<p>see ' + LINK('https://e.example/a_b_c', 'https://e.example/a_b_c') + '.</p>'],
  ['bare URL in parentheses', '(https://e.example/x)', '<p>(' + LINK('https://e.example/x', 'https://e.example/x') + ')</p>'],
  ['image', '![a cat](https://e.example/cat.png)', '<p><img src="https://e.example/cat.png" alt="a cat"></p>'],
  ['data image', '![dot](data:image/png;base64,iVBORw0KGgo=)', '<p><img src="data:image/png;base64,iVBORw0KGgo=" alt="dot"></p>'],
  ['image inside a link', '[![i](https://e.example/i.png)](https://e.example/)',
    '<p>' + LINK('https://e.example/', '<img src="https://e.example/i.png" alt="i">') + '</p>'],
  ['headings', '# One\n## Two\n### Three\n#### Four', '<h1>One</h1><h2>Two</h2><h3>Three</h3><h3>Four</h3>'],
  ['heading keeps C#', '# C# notes', '<h1>C# notes</h1>'],
  ['not a heading', '#hashtag', '<p>#hashtag</p>'],
  ['line breaks', 'a\nb', '<p>a<br>b</p>'],
  ['paragraphs', 'a\n\nb\r\n\r\nc', '<p>a</p><p>b</p><p>c</p>'],
  ['blockquote', '> quoted **text**\n> more', '<blockquote><p>quoted <strong>text</strong><br>more</p></blockquote>'],
  ['quotes and ampersands escaped', 'it\'s "x" & y', '<p>it&#39;s &quot;x&quot; &amp; y</p>'],
  ['entities are not decoded', '&lt;b&gt; &#106;', '<p>&amp;lt;b&amp;gt; &amp;#106;</p>'],
  ['empty', '', ''],
];
for (const [name, input, expected] of cases) {
  test('renders ' + name, () => {
    const html = renderMarkdown(input);
    assertSafe(html, input);
    assert.equal(html, expected);
  });
}

test('null and undefined render nothing', () => {
  assert.equal(renderMarkdown(null), '');
  assert.equal(renderMarkdown(undefined), '');
});

test('NUL characters cannot reach the placeholders', () => {
  const html = renderMarkdown('\u00000\u0000 `a` [x](https://e.example)');
  assertSafe(html, 'NUL');
  assert.ok(!html.includes('\u0000'));
});

/* -------------------------------------------------------------------- fuzz --- */

test('random mixes of Markdown and markup are always safe', () => {
  const parts = ['<', '>', '"', "'", '&', '&#106;', '*', '**', '_', '`', '```', '\n', '\n\n', ' ', '#', '# ', '> ', '- ',
    '1. ', '[', ']', '(', ')', '![', '](', 'javascript:', 'JaVaScRiPt:', 'data:text/html,', 'data:image/png;base64,AA==',
    'https://e.example/', 'http://x', 'mailto:a@b', '/p', '//evil', '\\', '\t', 'x', 'onerror=', '<script>', '</code>',
    '"><svg onload=alert(1)>', ' "t"', '\u0000', 'é', '🙂', '***', '__', ' *', '* ', '_ ', ' _', 'a', 'b'];
  let seed = 12345;
  const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  for (let i = 0; i < 20000; i++) {
    let input = '';
    const len = 1 + rand(24);
    for (let j = 0; j < len; j++) input += parts[rand(parts.length)];
    assertSafe(renderMarkdown(input), input);
  }
});

test('large input renders in reasonable time', () => {
  const big = ('**' + 'word '.repeat(50) + '\n').repeat(200) + '`'.repeat(2000) + '*a'.repeat(3000);
  const t = Date.now();
  assertSafe(renderMarkdown(big), '(large)');
  assert.ok(Date.now() - t < 2000, 'took ' + (Date.now() - t) + ' ms');
});

if (failed) {
  console.log('\n' + failed + ' test(s) failed');
  process.exit(1);
}
console.log('\nall tests passed');
