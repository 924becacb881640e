import { assertValidDefinition } from './asl';
import type { LocalTaskDefinition } from './ecs';
import type { FunctionConfiguration } from './lambda-context';

/** The account the synthesized template is resolved into: env-agnostic stacks get these values. */
export interface LocalAccount {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
  readonly urlSuffix: string;
}

export const LOCAL_ACCOUNT: LocalAccount = {
  partition: 'aws',
  region: 'us-east-1',
  accountId: '123456789012',
  urlSuffix: 'amazonaws.com',
};

interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

/** A CloudFormation template as `Template.toJSON()` or `cdk synth` returns it. */
export interface CloudFormationTemplate {
  readonly Resources?: Record<string, TemplateResource>;
}

/** A state machine taken from a template, its intrinsics resolved. */
export interface LocalStateMachine {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  /** The Amazon States Language definition, exactly as the template declares it. */
  readonly definition: Record<string, unknown>;
}

const LAMBDA_FUNCTION = 'AWS::Lambda::Function';
const TASK_DEFINITION = 'AWS::ECS::TaskDefinition';
const STATE_MACHINE = 'AWS::StepFunctions::StateMachine';

/**
 * Reads a synthesized template the way CloudFormation would deploy it into {@link LOCAL_ACCOUNT}:
 * intrinsic functions are resolved, and every resource gets a stable local name and ARN, so the
 * state machine definition refers to functions the harness can look up.
 */
export class TemplateResolver {
  private readonly resources: Record<string, TemplateResource>;

  constructor(
    template: CloudFormationTemplate,
    private readonly stackName: string,
    private readonly account: LocalAccount = LOCAL_ACCOUNT,
  ) {
    this.resources = template.Resources ?? {};
  }

  /** The logical ids of the resources of a type, e.g. `AWS::Lambda::Function`. */
  public logicalIdsOfType(type: string): string[] {
    return Object.entries(this.resources)
      .filter(([, resource]) => resource.Type === type)
      .map(([logicalId]) => logicalId);
  }

  public stateMachine(logicalId?: string): LocalStateMachine {
    const candidates = this.logicalIdsOfType(STATE_MACHINE);
    const id = logicalId ?? (candidates.length === 1 ? candidates[0] : undefined);
    if (id === undefined) {
      throw new Error(`The template must hold exactly one ${STATE_MACHINE} unless a logical id is given, found ${candidates.length}: ${candidates.join(', ')}`);
    }
    const properties = this.properties(id, STATE_MACHINE);
    let definitionText: string;
    if (properties.DefinitionString !== undefined) {
      definitionText = this.resolveString(properties.DefinitionString, `${id}.DefinitionString`);
    } else if (properties.Definition !== undefined) {
      definitionText = JSON.stringify(this.resolve(properties.Definition, `${id}.Definition`));
    } else {
      throw new Error(`State machine ${id} has neither DefinitionString nor Definition (S3 locations are not supported)`);
    }
    const substitutions = (this.resolve(properties.DefinitionSubstitutions ?? {}, `${id}.DefinitionSubstitutions`) ?? {}) as Record<string, unknown>;
    for (const [key, value] of Object.entries(substitutions)) {
      definitionText = definitionText.split(`\${${key}}`).join(String(value));
    }
    const definition = JSON.parse(definitionText);
    // Every definition the tests and the demo run is one the service would accept.
    assertValidDefinition(definition, `State machine ${id}`);
    return { logicalId: id, name: this.stateMachineName(id), arn: this.stateMachineArn(id), definition };
  }

  /** A function's name, ARN, timeout, memory and environment, as deployed. */
  public functionConfiguration(logicalId: string): FunctionConfiguration {
    const properties = this.properties(logicalId, LAMBDA_FUNCTION);
    const variables = (properties.Environment as { Variables?: unknown } | undefined)?.Variables ?? {};
    const environment = this.resolve(variables, `${logicalId}.Environment.Variables`) as Record<string, unknown>;
    for (const [name, value] of Object.entries(environment)) {
      if (typeof value !== 'string') {
        throw new Error(`${logicalId}.Environment.Variables.${name} must resolve to a string, got ${JSON.stringify(value)}`);
      }
    }
    return {
      functionName: this.functionName(logicalId),
      functionArn: this.functionArn(logicalId),
      timeoutSeconds: Number(this.resolve(properties.Timeout ?? 3, `${logicalId}.Timeout`)),
      memorySize: Number(this.resolve(properties.MemorySize ?? 128, `${logicalId}.MemorySize`)),
      environment: environment as Record<string, string>,
    };
  }

  /** A task definition's ARN and containers (name, entry point, command, environment), as deployed. */
  public taskDefinition(logicalId: string): LocalTaskDefinition {
    const properties = this.properties(logicalId, TASK_DEFINITION);
    const containers = (this.resolve(properties.ContainerDefinitions ?? [], `${logicalId}.ContainerDefinitions`) as Array<Record<string, any>>);
    return {
      arn: this.taskDefinitionArn(logicalId),
      containers: containers.map((container) => ({
        name: String(container.Name),
        entryPoint: (container.EntryPoint ?? []) as string[],
        command: (container.Command ?? []) as string[],
        environment: Object.fromEntries(((container.Environment ?? []) as Array<{ Name: string; Value: unknown }>).map(({ Name, Value }) => {
          if (typeof Value !== 'string') throw new Error(`${logicalId} container ${container.Name}: ${Name} must resolve to a string, got ${JSON.stringify(Value)}`);
          return [Name, Value];
        })),
      })),
    };
  }

  /** A task definition's ARN: its family (or logical id) at revision 1. */
  public taskDefinitionArn(logicalId: string): string {
    const properties = this.properties(logicalId, TASK_DEFINITION);
    const family = properties.Family !== undefined ? this.resolveString(properties.Family, `${logicalId}.Family`) : logicalId;
    const { partition, region, accountId } = this.account;
    return `arn:${partition}:ecs:${region}:${accountId}:task-definition/${family}:1`;
  }

  public functionName(logicalId: string): string {
    const properties = this.properties(logicalId, LAMBDA_FUNCTION);
    if (properties.FunctionName !== undefined) {
      return this.resolveString(properties.FunctionName, `${logicalId}.FunctionName`);
    }
    // CloudFormation would add the stack name and a random suffix; a stable name keeps runs comparable.
    return logicalId.slice(0, 64);
  }

  public functionArn(logicalId: string): string {
    const { partition, region, accountId } = this.account;
    return `arn:${partition}:lambda:${region}:${accountId}:function:${this.functionName(logicalId)}`;
  }

  /** Resolves every intrinsic function in `value`; `path` names the value in error messages. */
  public resolve(value: unknown, path: string): unknown {
    if (Array.isArray(value)) {
      return value.map((item, index) => this.resolve(item, `${path}[${index}]`));
    }
    if (value === null || typeof value !== 'object') {
      return value;
    }
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1 && (entries[0][0] === 'Ref' || entries[0][0].startsWith('Fn::'))) {
      return this.resolveIntrinsic(entries[0][0], entries[0][1], path);
    }
    return Object.fromEntries(entries.map(([key, item]) => [key, this.resolve(item, `${path}.${key}`)]));
  }

  private resolveString(value: unknown, path: string): string {
    const resolved = this.resolve(value, path);
    if (typeof resolved !== 'string') {
      throw new Error(`${path} must resolve to a string, got ${JSON.stringify(resolved)}`);
    }
    return resolved;
  }

  private resolveIntrinsic(name: string, argument: unknown, path: string): unknown {
    const at = `${path}.${name}`;
    switch (name) {
      case 'Ref':
        return this.ref(String(argument), at);
      case 'Fn::GetAtt': {
        const [logicalId, attribute] = Array.isArray(argument) ? argument : String(argument).split('.');
        return this.getAtt(String(logicalId), String(attribute), at);
      }
      case 'Fn::Join': {
        const [separator, parts] = argument as [string, unknown[]];
        const resolved = this.resolve(parts, at);
        if (!Array.isArray(resolved)) throw new Error(`${at} must join a list, got ${JSON.stringify(resolved)}`);
        return resolved.join(separator);
      }
      case 'Fn::Sub':
        return this.sub(argument, at);
      case 'Fn::Select': {
        const [index, list] = argument as [unknown, unknown];
        const items = this.resolve(list, at);
        const position = Number(this.resolve(index, at));
        if (!Array.isArray(items) || !(position in items)) {
          throw new Error(`${at}: index ${position} is out of range of ${JSON.stringify(items)}`);
        }
        return items[position];
      }
      case 'Fn::Split': {
        const [separator, source] = argument as [string, unknown];
        return this.resolveString(source, at).split(separator);
      }
      default:
        throw new Error(`${at}: the local runner cannot resolve the intrinsic function ${name}`);
    }
  }

  private ref(target: string, at: string): string {
    const { partition, region, accountId, urlSuffix } = this.account;
    const pseudo: Record<string, string> = {
      'AWS::Partition': partition,
      'AWS::Region': region,
      'AWS::AccountId': accountId,
      'AWS::URLSuffix': urlSuffix,
      'AWS::StackName': this.stackName,
    };
    if (target in pseudo) return pseudo[target];
    const resource = this.resources[target];
    if (!resource) throw new Error(`${at}: Ref to ${target}, which is neither a pseudo parameter nor a resource of the template`);
    switch (resource.Type) {
      case LAMBDA_FUNCTION:
        return this.functionName(target);
      case STATE_MACHINE:
        return this.stateMachineArn(target);
      case TASK_DEFINITION:
        return this.taskDefinitionArn(target);
      case 'AWS::SNS::Topic':
        return `arn:${partition}:sns:${region}:${accountId}:${target}`;
      default:
        return target;
    }
  }

  private getAtt(logicalId: string, attribute: string, at: string): string {
    const resource = this.resources[logicalId];
    if (!resource) throw new Error(`${at}: Fn::GetAtt of ${logicalId}, which is not a resource of the template`);
    const { partition, region, accountId } = this.account;
    const key = `${resource.Type}.${attribute}`;
    switch (key) {
      case `${LAMBDA_FUNCTION}.Arn`:
        return this.functionArn(logicalId);
      case `${STATE_MACHINE}.Arn`:
        return this.stateMachineArn(logicalId);
      case `${STATE_MACHINE}.Name`:
        return this.stateMachineName(logicalId);
      case 'AWS::IAM::Role.Arn':
        return `arn:${partition}:iam::${accountId}:role/${logicalId}`;
      case 'AWS::Logs::LogGroup.Arn':
        return `arn:${partition}:logs:${region}:${accountId}:log-group:${logicalId}:*`;
      case 'AWS::ECS::Cluster.Arn':
        return `arn:${partition}:ecs:${region}:${accountId}:cluster/${logicalId}`;
      case 'AWS::EC2::SecurityGroup.GroupId':
        return `sg-${logicalId.toLowerCase()}`;
      case 'AWS::SQS::Queue.Arn':
        return `arn:${partition}:sqs:${region}:${accountId}:${logicalId}`;
      default:
        throw new Error(`${at}: the local runner cannot resolve Fn::GetAtt ${logicalId}.${attribute} (${resource.Type})`);
    }
  }

  private sub(argument: unknown, at: string): string {
    const [text, variables] = Array.isArray(argument) ? (argument as [string, Record<string, unknown>]) : [String(argument), {}];
    const resolvedVariables = this.resolve(variables, at) as Record<string, unknown>;
    return text.replace(/\$\{([^}!][^}]*)\}/g, (_match, reference: string) => {
      if (reference in resolvedVariables) return String(resolvedVariables[reference]);
      const [logicalId, attribute] = reference.split('.');
      return attribute === undefined ? this.ref(logicalId, at) : this.getAtt(logicalId, attribute, at);
    });
  }

  private stateMachineName(logicalId: string): string {
    const properties = this.properties(logicalId, STATE_MACHINE);
    return properties.StateMachineName !== undefined
      ? this.resolveString(properties.StateMachineName, `${logicalId}.StateMachineName`)
      : logicalId.slice(0, 80);
  }

  private stateMachineArn(logicalId: string): string {
    const { partition, region, accountId } = this.account;
    return `arn:${partition}:states:${region}:${accountId}:stateMachine:${this.stateMachineName(logicalId)}`;
  }

  private properties(logicalId: string, type: string): Record<string, unknown> {
    const resource = this.resources[logicalId];
    if (!resource || resource.Type !== type) {
      throw new Error(`The template has no ${type} with logical id ${logicalId}`);
    }
    return resource.Properties ?? {};
  }
}
