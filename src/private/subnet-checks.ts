import * as ec2 from 'aws-cdk-lib/aws-ec2';

/**
 * Refuses subnets the refresh compute cannot reach the internet or the AWS APIs from: public subnets give a Lambda
 * function no public IP address at all, and an ECS task one only with `assignPublicIp`. Without `vpcSubnets` the
 * VPC's private subnets are chosen, and its public ones when it has nothing else, so the error names both props.
 */
export function checkRefreshSubnets(vpc: ec2.IVpc, vpcSubnets: ec2.SubnetSelection | undefined, compute: 'function' | 'task'): void {
  if (!vpc.selectSubnets(vpcSubnets).hasPublic) {
    return;
  }
  const chosen = vpcSubnets === undefined
    ? '`vpc` has only public subnets, which the refresh ' + compute + ' gets when `vpcSubnets` is not set'
    : '`vpcSubnets` selects public subnets';
  const why = compute === 'function'
    ? 'a Lambda function there gets no public IP address, so the refresh function could reach neither Secrets Manager nor anything else through the internet gateway'
    : 'the refresh task would get no public IP address there, so it could reach neither Secrets Manager nor anything else through the internet gateway';
  const fix = compute === 'function'
    ? 'Select private subnets with `vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }` (add them to the VPC ' +
      'if it has none), or isolated subnets with the interface endpoints the refresh needs.'
    : 'Select private subnets with `vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }`, isolated subnets ' +
      'with the interface endpoints it needs, or set `assignPublicIp` of RefreshCompute.fargate().';
  throw new Error(`${chosen}: ${why}. ${fix}`);
}
