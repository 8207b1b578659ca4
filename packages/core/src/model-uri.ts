import { InvalidParameterError } from './errors.js';
import type { ModelReference } from './deployment.js';

/**
 * Parses a registered model URI: `models:/<name>/<version>`, `models:/<name>@<alias>`, or the
 * same without the `models:/` prefix (`churn/3`, `churn@champion`).
 * @throws InvalidParameterError naming the URI and the accepted forms.
 * @example parseModelUri('models:/churn@champion') // { name: 'churn', alias: 'champion' }
 */
export function parseModelUri(uri: string): ModelReference {
  const body = uri.startsWith('models:/') ? uri.slice('models:/'.length) : uri;
  const at = body.lastIndexOf('@');
  if (at > 0 && !body.slice(at).includes('/')) {
    const name = body.slice(0, at);
    const alias = body.slice(at + 1);
    if (name !== '' && alias !== '') return { name, alias };
  }
  const slash = body.lastIndexOf('/');
  if (slash > 0) {
    const name = body.slice(0, slash);
    const version = body.slice(slash + 1);
    if (/^[1-9]\d*$/.test(version)) return { name, version };
  }
  throw new InvalidParameterError(
    `Invalid model URI '${uri}'. Use models:/<name>/<version> or models:/<name>@<alias>, e.g. models:/churn/3 or models:/churn@champion.`,
    { uri },
  );
}
