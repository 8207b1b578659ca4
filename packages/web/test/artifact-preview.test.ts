import { describe, expect, it } from 'vitest';
import {
  imageType,
  mlmodelFlavors,
  mlmodelLines,
  parseCsv,
  prettyJson,
  previewKind,
  textPrefix,
} from '../src/artifact-preview.js';

describe('artifact preview kinds', () => {
  it('chooses a preview from the file name', () => {
    expect(previewKind('model/MLmodel')).toBe('mlmodel');
    expect(previewKind('plots/loss.PNG')).toBe('image');
    expect(previewKind('a.svg')).toBe('image');
    expect(previewKind('metrics.json')).toBe('json');
    expect(previewKind('data/sample.csv')).toBe('csv');
    expect(previewKind('train.log')).toBe('text');
    expect(previewKind('conf/params.yaml')).toBe('text');
    expect(previewKind('model/requirements.txt')).toBe('text');
    expect(previewKind('model.onnx')).toBe('none');
    expect(previewKind('.hidden')).toBe('none');
    expect(imageType('x.jpg')).toBe('image/jpeg');
    expect(imageType('x.svg')).toBe('image/svg+xml');
  });
});

describe('text and JSON previews', () => {
  it('cuts text at the limit without splitting a character', () => {
    const bytes = new TextEncoder().encode('ab€cd'); // € is 3 bytes: 2..4
    expect(textPrefix(bytes, 100)).toEqual({ text: 'ab€cd', truncated: false });
    expect(textPrefix(bytes, 4)).toEqual({ text: 'ab', truncated: true });
    expect(textPrefix(bytes, 5)).toEqual({ text: 'ab€', truncated: true });
  });

  it('indents JSON, and shows text that does not parse as it is with the error', () => {
    expect(prettyJson('{"a":[1,2]}').text).toBe('{\n  "a": [\n    1,\n    2\n  ]\n}');
    const bad = prettyJson('{"a":');
    expect(bad.text).toBe('{"a":');
    expect(bad.error).toBeDefined();
  });
});

describe('parseCsv', () => {
  it('reads quoted fields with separators, doubled quotes and line breaks, CRLF or LF', () => {
    const text = 'name,note\r\n"a, b","say ""hi"""\n"multi\nline",x\n';
    expect(parseCsv(text)).toEqual({
      rows: [
        ['name', 'note'],
        ['a, b', 'say "hi"'],
        ['multi\nline', 'x'],
      ],
      truncated: false,
    });
  });

  it('keeps empty fields and a last line without a line end', () => {
    expect(parseCsv('a,,c\n1,2,').rows).toEqual([
      ['a', '', 'c'],
      ['1', '2', ''],
    ]);
  });

  it('stops at maxRows and says there were more', () => {
    const text = Array.from({ length: 10 }, (_, i) => `${i},${i * i}`).join('\n');
    const head = parseCsv(text, 3);
    expect(head.rows).toEqual([
      ['0', '0'],
      ['1', '1'],
      ['2', '4'],
    ]);
    expect(head.truncated).toBe(true);
    expect(parseCsv('a\nb\n', 2).truncated).toBe(false);
  });

  it('reads tab-separated values with another separator', () => {
    expect(parseCsv('a\tb\n1\t2', 10, '\t').rows).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
  });
});

describe('MLmodel files', () => {
  const mlmodel = [
    'artifact_path: model',
    'flavors:',
    '  python_function:',
    '    loader_module: mlflow.sklearn',
    '  sklearn:',
    '    sklearn_version: 1.5.0',
    'run_id: abc',
    'signature:',
    '  inputs: \'[{"type": "double"}]\'',
  ].join('\n');

  it('tags each line with its top-level section', () => {
    const lines = mlmodelLines(mlmodel);
    expect(lines.map((l) => l.section)).toEqual([
      'artifact_path',
      'flavors',
      'flavors',
      'flavors',
      'flavors',
      'flavors',
      'run_id',
      'signature',
      'signature',
    ]);
    expect(lines.filter((l) => l.heading).map((l) => l.text)).toEqual([
      'artifact_path: model',
      'flavors:',
      'run_id: abc',
      'signature:',
    ]);
  });

  it('lists the flavors', () => {
    expect(mlmodelFlavors(mlmodel)).toEqual(['python_function', 'sklearn']);
    expect(mlmodelFlavors('run_id: x')).toEqual([]);
  });
});
