import { ArnFormat, Resource, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/** What CloudWatch Logs does with a log group's key. */
const LOGS_KEY_ACTIONS = ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'];

/**
 * The customer-managed key of the log groups the orchestrator creates. Each log group takes the key through
 * {@link keyFor}, which records its name; {@link allowLogs} then gives CloudWatch Logs the key in the key policy,
 * for exactly those log groups (the `aws:logs:arn` encryption context).
 */
export class LogGroupEncryption {
  private readonly logGroupNames: string[] = [];

  constructor(private readonly scope: Construct, public readonly key: kms.IKey | undefined) {}

  /**
   * The key for a log group the orchestrator creates under `logGroupName`, or undefined without one. `prop` names
   * the prop that would pass the log group in, for the error on an imported key.
   */
  public keyFor(logGroupName: string, prop: string): kms.IKey | undefined {
    const key = this.key;
    if (!key) {
      return undefined;
    }
    if (!Resource.isOwnedResource(key)) {
      throw new Error(
        `\`encryptionKey\` was imported (${key.node.path}), so its key policy cannot be changed here, and the log group ` +
          `${logGroupName} that the orchestrator would create needs CloudWatch Logs (logs.<region>.amazonaws.com) to be ` +
          `allowed ${LOGS_KEY_ACTIONS.join(', ')} on the key for its \`kms:EncryptionContext:aws:logs:arn\`. ` +
          `Pass \`${prop}\`, a log group encrypted as its owner chooses, or a key defined in this app (kms.Key).`,
      );
    }
    this.logGroupNames.push(logGroupName);
    return key;
  }

  /** Adds the key policy statement for CloudWatch Logs on the log groups the key was given to. */
  public allowLogs(): void {
    if (!this.key || this.logGroupNames.length === 0) {
      return;
    }
    const stack = Stack.of(this.scope);
    this.key.addToResourcePolicy(new iam.PolicyStatement({
      sid: `LogsEncrypt${this.scope.node.addr}`,
      principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
      actions: LOGS_KEY_ACTIONS,
      // In a key policy, "*" is the key itself; the condition narrows it to these log groups.
      resources: ['*'],
      conditions: {
        ArnEquals: {
          'kms:EncryptionContext:aws:logs:arn': this.logGroupNames.map((logGroupName) => stack.formatArn({
            service: 'logs',
            resource: 'log-group',
            resourceName: logGroupName,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          })),
        },
      },
    }));
  }
}
