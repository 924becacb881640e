import { Duration, Lazy, Stack } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';

/**
 * A state machine definition built at synth rather than in the constructor, so pipelines added after
 * construction are in it. `build` runs once, before the template is resolved (from an aspect): it gives the
 * state machine's role the statements of every state and renders the definition.
 */
export class DeferredDefinitionBody extends sfn.DefinitionBody {
  private rendered?: string;

  constructor(private readonly comment: string) {
    super();
  }

  public get isBuilt(): boolean {
    return this.rendered !== undefined;
  }

  public bind(): sfn.DefinitionConfig {
    return {
      definitionString: Lazy.string({
        produce: () => {
          if (this.rendered === undefined) throw new Error('The state machine definition was resolved before it was built');
          return this.rendered;
        },
      }),
    };
  }

  /** Renders the states reachable from `start`, as `DefinitionBody.fromChainable` would, and grants their statements. */
  public build(stateMachine: sfn.StateMachine, start: sfn.IChainable, timeout: Duration | undefined): void {
    const graph = new sfn.StateGraph(start.startState, 'State Machine definition');
    graph.timeout = timeout;
    for (const statement of graph.policyStatements) {
      stateMachine.addToRolePolicy(statement);
    }
    this.rendered = Stack.of(stateMachine).toJsonString({ ...graph.toGraphJson(), Comment: this.comment });
  }
}
