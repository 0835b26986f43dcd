output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "IPv4 range of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "availability_zones" {
  description = "The three availability zones, in subnet order."
  value       = local.zones
}

output "public_subnet_ids" {
  description = "Public subnets, one per zone: the ALB and the NAT gateways."
  value       = aws_subnet.public[*].id
}

output "service_subnet_ids" {
  description = "Private subnets with outbound access through NAT, one per zone: the Fargate tasks."
  value       = aws_subnet.service[*].id
}

output "data_subnet_ids" {
  description = "Private subnets without internet access, one per zone: Redis, Kafka, PostgreSQL."
  value       = aws_subnet.data[*].id
}
