import type { FastifyRequest } from 'fastify';
import { InvalidParameterError } from '@modelyard/core';

/** The part of an Ajv error that Fastify attaches to `request.validationError.validation`. */
interface SchemaIssue {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

const WHERE: Record<string, string> = {
  body: 'request body',
  querystring: 'query string',
  params: 'path',
  headers: 'headers',
};

/** `/metrics/0/value` -> `metrics[0].value`. */
function fieldName(instancePath: string, child?: string): string {
  const segments = instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) segments.push(child);
  let out = '';
  for (const segment of segments) {
    if (/^\d+$/.test(segment)) out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out;
}

function valueAt(data: unknown, instancePath: string): unknown {
  let current = data;
  for (const raw of instancePath.split('/').slice(1)) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

function show(value: unknown): string {
  const text = value === undefined ? 'undefined' : JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

function expectation(issue: SchemaIssue): string {
  const allowed = issue.params.allowedValues;
  if (issue.keyword === 'enum' && Array.isArray(allowed)) {
    return `must be one of ${allowed.map(String).join(', ')}`;
  }
  if (issue.keyword === 'type' && typeof issue.params.type === 'string') {
    const article = /^[aeiou]/.test(issue.params.type) ? 'an' : 'a';
    return `must be ${article} ${issue.params.type}`;
  }
  return issue.message ?? 'is not valid';
}

/**
 * Turns the schema-validation failure Fastify attached to `request` into an
 * `InvalidParameterError` whose message names the field, where it was (body, query string,
 * path) and the offending value, e.g.
 * `Invalid value "abc" for 'maxResults' in the query string: must be an integer.`
 */
export function schemaValidationError(request: FastifyRequest): InvalidParameterError {
  const error = request.validationError as
    (Error & { validation?: SchemaIssue[]; validationContext?: string }) | undefined;
  const context = error?.validationContext ?? 'body';
  const where = WHERE[context] ?? context;
  const issues = error?.validation ?? [];
  // For a union (a metric value), Ajv reports each failed branch, then the union itself.
  const issue = issues.find((i) => i.keyword === 'anyOf') ?? issues[0];
  if (issue === undefined) {
    return new InvalidParameterError(`Invalid ${where}: ${error?.message ?? 'unknown error'}.`);
  }
  const data = (request as unknown as Record<string, unknown>)[
    context === 'querystring' ? 'query' : context
  ];
  if (issue.keyword === 'required' && typeof issue.params.missingProperty === 'string') {
    const field = fieldName(issue.instancePath, issue.params.missingProperty);
    return new InvalidParameterError(`Missing required field '${field}' in the ${where}.`, {
      field,
      in: context,
    });
  }
  const field = fieldName(issue.instancePath);
  const value = valueAt(data, issue.instancePath);
  if (field === '' && value === undefined) {
    return new InvalidParameterError(`The ${where} is missing: ${expectation(issue)}.`, {
      in: context,
    });
  }
  if (field === '') {
    return new InvalidParameterError(
      `Invalid ${where} ${show(value)}: ${context === 'body' ? 'expected a JSON object' : expectation(issue)}.`,
      { in: context, value },
    );
  }
  const expected =
    issue.keyword === 'anyOf'
      ? issues
          .filter((i) => i !== issue && i.instancePath === issue.instancePath)
          .map((i, n) => (n === 0 ? expectation(i) : expectation(i).replace(/^must be /, '')))
          .join(' or ')
      : expectation(issue);
  return new InvalidParameterError(
    `Invalid value ${show(value)} for '${field}' in the ${where}: ${expected}.`,
    { field, in: context, value },
  );
}
