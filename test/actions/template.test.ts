// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${name}` template syntax is what is under test
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { listTemplateVariables, MASK, renderTemplate, validateTemplate } from '../../src/actions/template.js';
import { ValidationError } from '../../src/model/errors.js';

const ALL_BUILTINS = [
  'project_name',
  'entity_name',
  'event_type',
  'event_author',
  'alias',
  'tag',
  'artifact_collection_name',
  'artifact_metadata.KEY',
  'artifact_version',
  'artifact_version_string',
  'run_name',
  'run_id',
  'run_state',
  'metric_name',
  'metric_value',
  'ACCESS_TOKEN',
];

function validationError(fn: () => void): ValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('validateTemplate', () => {
  it('accepts every built-in variable, metadata keys and the integration secrets', () => {
    const payload = {
      all: ALL_BUILTINS.map((name) => `\${${name}}`).join(' '),
      nested: [{ '${run_name}': '${artifact_metadata.nested.key}' }, 1, true, null],
      secret: 'Bearer ${MY_SECRET}',
    };
    expect(() => validateTemplate(payload, { secretNames: ['MY_SECRET'] })).not.toThrow();
  });

  it('rejects an unknown variable, naming it and the field', () => {
    const err = validationError(() => validateTemplate({ text: 'hi ${run_nmae}' }, { secretNames: [] }));
    expect(err.field).toBe('action.payload');
    expect(err.message).toContain('${run_nmae}');
  });

  it('finds unknown variables in keys, nested arrays and whole strings', () => {
    for (const payload of [{ '${nope}': 1 }, { a: [[{ b: '${nope}' }]] }, '${nope}']) {
      expect(validationError(() => validateTemplate(payload, { secretNames: [] })).message).toContain(
        '${nope}',
      );
    }
  });

  it("rejects another secret than the integration's own", () => {
    const err = validationError(() =>
      validateTemplate({ token: '${OTHER_TEAM_SECRET}' }, { secretNames: ['MINE'] }),
    );
    expect(err.message).toContain('${OTHER_TEAM_SECRET}');
    expect(err.message).toContain('MINE');
  });

  it('rejects malformed names', () => {
    for (const text of ['${}', '${run name}', '${artifact_metadata.}', '${ run_name }', '${MY-SECRET}']) {
      expect(() => validateTemplate({ text }, { secretNames: ['MY-SECRET'] })).toThrow(ValidationError);
    }
  });

  it('leaves text that is not a variable alone', () => {
    expect(() => validateTemplate({ text: '$run_name {x} ${ and $' }, { secretNames: [] })).not.toThrow();
  });

  it('rejects values that are not JSON', () => {
    expect(() => validateTemplate({ a: Number.NaN }, { secretNames: [] })).toThrow(ValidationError);
    expect(() => validateTemplate({ a: undefined }, { secretNames: [] })).toThrow(ValidationError);
  });
});

describe('renderTemplate', () => {
  const vars = {
    project_name: 'mnist',
    entity_name: 'ml',
    event_type: 'RUN_METRIC',
    run_name: 'fancy-run',
    run_state: 'FAILED',
    metric_name: 'loss',
    metric_value: 0.25,
    artifact_metadata: { accuracy: 0.9, 'a.b': 'dotted', nested: { key: [1, 2] } },
  };

  it('substitutes inside strings and keys, keeping the type of whole-string variables', () => {
    const { body } = renderTemplate(
      {
        text: '${run_name} is ${run_state} (${metric_name}=${metric_value})',
        value: '${metric_value}',
        acc: '${artifact_metadata.accuracy}',
        dotted: '${artifact_metadata.a.b}',
        nested: '${artifact_metadata.nested.key}',
        inline: 'meta ${artifact_metadata.nested}',
        '${project_name}_key': ['${entity_name}', 7, false, null],
      },
      vars,
      {},
    );
    expect(JSON.parse(body)).toEqual({
      text: 'fancy-run is FAILED (loss=0.25)',
      value: 0.25,
      acc: 0.9,
      dotted: 'dotted',
      nested: [1, 2],
      inline: 'meta {"key":[1,2]}',
      mnist_key: ['ml', 7, false, null],
    });
  });

  it('renders missing values as null when whole and empty inside a string', () => {
    const { body } = renderTemplate(
      { whole: '${alias}', inside: 'alias=[${alias}]', meta: '${artifact_metadata.missing}' },
      vars,
      {},
    );
    expect(JSON.parse(body)).toEqual({ whole: null, inside: 'alias=[]', meta: null });
  });

  it('never emits NaN or Infinity as JSON numbers', () => {
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const { body } = renderTemplate(
        { v: '${metric_value}', t: 'v=${metric_value}' },
        { metric_value: value },
        {},
      );
      expect(JSON.parse(body)).toEqual({ v: null, t: `v=${value}` });
    }
  });

  it('substitutes secrets and ACCESS_TOKEN, masking them in the history copy', () => {
    const secrets = { ACCESS_TOKEN: 'tok-123456', SIGNING: 'shh-secret' };
    const { body, masked } = renderTemplate(
      { auth: 'Bearer ${ACCESS_TOKEN}', s: '${SIGNING}', run: '${run_name}' },
      vars,
      secrets,
    );
    expect(JSON.parse(body)).toEqual({ auth: 'Bearer tok-123456', s: 'shh-secret', run: 'fancy-run' });
    expect(JSON.parse(masked)).toEqual({ auth: `Bearer ${MASK}`, s: MASK, run: 'fancy-run' });
  });

  it('masks a secret value that reaches the payload through an event value or literal text', () => {
    const { masked } = renderTemplate(
      { run: '${run_name}', literal: 'pasted shh-secret here' },
      { run_name: 'run-shh-secret' },
      { SIGNING: 'shh-secret' },
    );
    expect(masked).not.toContain('shh-secret');
    expect(JSON.parse(masked)).toEqual({ run: `run-${MASK}`, literal: `pasted ${MASK} here` });
  });

  it('keeps a payload key named __proto__ as a plain key', () => {
    const payload = JSON.parse('{"__proto__": {"x": "${run_name}"}}');
    const { body } = renderTemplate(payload, vars, {});
    expect(body).toBe('{"__proto__":{"x":"fancy-run"}}');
  });

  it('does not read inherited properties of vars or secrets', () => {
    const { body } = renderTemplate({ a: '${run_name}', b: '${toString}' }, {}, {});
    expect(JSON.parse(body)).toEqual({ a: null, b: null });
  });

  it('does not re-expand variables that appear in substituted values', () => {
    const { body } = renderTemplate(
      { a: '${run_name}' },
      { run_name: '${ACCESS_TOKEN}' },
      { ACCESS_TOKEN: 't' },
    );
    expect(JSON.parse(body)).toEqual({ a: '${ACCESS_TOKEN}' });
  });

  // Strings that stress JSON encoding: quotes, backslashes, control characters, line separators,
  // lone surrogates, template syntax and astral characters.
  const nastyChar = fc.oneof(
    fc.constantFrom(
      '"',
      '\\',
      '\n',
      '\r',
      '\t',
      '\u0000',
      '\u2028',
      '\u2029',
      '\ud800',
      '\udfff',
      '${',
      '}',
      '😀',
    ),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  );
  const nastyString = fc.string({ unit: nastyChar, maxLength: 40 });

  it('property: any values keep the body valid JSON and round-trip', () => {
    fc.assert(
      fc.property(
        nastyString,
        nastyString,
        fc.oneof(fc.double(), fc.integer()),
        fc.jsonValue(),
        nastyString,
        (runName, tag, metric, metadata, secret) => {
          const template = {
            whole: '${run_name}',
            inside: 'run "${run_name}" tagged ${tag}',
            'k_${tag}': '${metric_value}',
            meta: '${artifact_metadata.m}',
            secret: 'x${S}x',
          };
          const { body, masked } = renderTemplate(
            template,
            { run_name: runName, tag, metric_value: metric, artifact_metadata: { m: metadata } },
            { S: secret },
          );
          const parsed = JSON.parse(body);
          expect(parsed.whole).toBe(runName);
          expect(parsed.inside).toBe(`run "${runName}" tagged ${tag}`);
          expect(parsed[`k_${tag}`]).toBe(
            Number.isFinite(metric) ? (Object.is(metric, -0) ? 0 : metric) : null,
          );
          expect(parsed.meta).toEqual(JSON.parse(JSON.stringify(metadata ?? null)));
          expect(parsed.secret).toBe(`x${secret}x`);
          expect(() => JSON.parse(masked)).not.toThrow();
        },
      ),
      { numRuns: 500 },
    );
  });

  it('property: the masked body never contains a secret value', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 30 }),
        fc.stringMatching(/^[A-Za-z0-9]{8,24}$/),
        (runName, secret) => {
          const { body, masked } = renderTemplate(
            { a: '${ACCESS_TOKEN}', b: 'k=${ACCESS_TOKEN};${run_name}' },
            { run_name: runName },
            { ACCESS_TOKEN: secret },
          );
          expect(body).toContain(secret);
          expect(masked).not.toContain(secret);
        },
      ),
    );
  });
});

describe('listTemplateVariables', () => {
  it('lists every built-in variable with a description, then the integration secrets', () => {
    const vars = listTemplateVariables({ secretNames: ['MY_SECRET'] });
    expect(vars.map((v) => v.name)).toEqual([...ALL_BUILTINS, 'MY_SECRET']);
    for (const v of vars) expect(v.description.length).toBeGreaterThan(0);
  });
});
