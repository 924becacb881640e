import { Annotations, Stack, Token } from 'aws-cdk-lib';
import { Construct, IConstruct } from 'constructs';

/** The orchestrators of each app by resource prefix, to find two that would create resources with the same names. */
const prefixesByApp = new WeakMap<IConstruct, Array<{ prefix: string; path: string; account: string; region: string }>>();

/**
 * Fails when another orchestrator of the app has the same `resourcePrefix` and deploys to the same account and
 * region: both would create a state machine, a function, log groups, alarms and a schedule of the same names, and
 * the second deployment would fail. Stacks whose account or region is unknown at synth may deploy anywhere, so two
 * of them count as one place, and one of them beside a pinned stack gets a warning; a prefix that is a token is
 * left alone.
 */
export function claimResourcePrefix(orchestrator: Construct, prefix: string | undefined): void {
  if (prefix === undefined || Token.isUnresolved(prefix)) {
    return;
  }
  const stack = Stack.of(orchestrator);
  const place = (value: string) => (Token.isUnresolved(value) ? '' : value);
  const claim = { prefix, path: orchestrator.node.path, account: place(stack.account), region: place(stack.region) };
  const claims = prefixesByApp.get(orchestrator.node.root) ?? [];
  const other = claims.find((c) => c.prefix === prefix && c.account === claim.account && c.region === claim.region);
  if (other) {
    const where = claim.account && claim.region ? `account ${claim.account}, region ${claim.region}` : 'an environment unknown at synth';
    throw new Error(
      `\`resourcePrefix\` "${prefix}" of ${claim.path} is already the prefix of ${other.path} in the same account and region ` +
        `(${where}): both would create resources of the same names (state machine, function, log groups, alarms, schedule). ` +
        'Give each orchestrator its own resourcePrefix.',
    );
  }
  const unknownOrSame = (a: string, b: string) => a === '' || b === '' || a === b;
  const maybe = claims.find((c) => c.prefix === prefix && unknownOrSame(c.account, claim.account) && unknownOrSame(c.region, claim.region));
  if (maybe) {
    Annotations.of(orchestrator).addWarningV2('itc-orchestrator:resourcePrefixMayCollide',
      `\`resourcePrefix\` "${prefix}" of ${claim.path} is also the prefix of ${maybe.path}, and one of their stacks may deploy ` +
        'to any account and region: deployed to the same one, both would create resources of the same names. Give each ' +
        'orchestrator its own resourcePrefix, or pin both stacks\' env.');
  }
  claims.push(claim);
  prefixesByApp.set(orchestrator.node.root, claims);
}
