// The UI's Markdown renderer must never let notebook text become markup or script.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderMarkdown } from '../../desktop/ui/src/markdown.ts';

test('renders the usual notebook prose', () => {
  const html = renderMarkdown('# Title\n\nSome **bold**, _it_ and `code`.\n\n- one\n- two\n\n```js\nconst x = 1 < 2\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |');
  assert.match(html, /<h1>Title<\/h1>/);
  assert.match(html, /<strong>bold<\/strong>/);
  assert.match(html, /<em>it<\/em>/);
  assert.match(html, /<code>code<\/code>/);
  assert.match(html, /<ul><li>one<\/li><li>two<\/li><\/ul>/);
  assert.match(html, /<pre><code class="language-js">const x = 1 &lt; 2<\/code><\/pre>/);
  assert.match(html, /<td>1<\/td><td>2<\/td>/);
});

test('raw HTML is shown as text and only safe links survive', () => {
  const html = renderMarkdown('<img src=x onerror=alert(1)> <script>alert(1)</script>\n\n[ok](https://example.com/a?b=1&c=2) [bad](javascript:alert(1)) [q](https://x.org/"onmouseover="alert(1))');
  assert.doesNotMatch(html, /<img|<script/);
  assert.match(html, /&lt;script&gt;/);
  assert.match(html, /<a href="https:\/\/example.com\/a\?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">ok<\/a>/);
  assert.doesNotMatch(html, /href="javascript:/);
  assert.doesNotMatch(html, /href="[^"]*"onmouseover/);
  assert.doesNotMatch(html, /\sonmouseover=/);
});
