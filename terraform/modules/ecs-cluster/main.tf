# What every onsale role shares: the ECS cluster, the image repository and the security group of
# the tasks. The data modules admit this security group; each role is an ecs-service module.

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enhanced"
  }
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_ecr_repository" "onsale" {
  name                 = "${var.name}/onsale"
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.ecr_force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }
}

resource "aws_ecr_lifecycle_policy" "onsale" {
  repository = aws_ecr_repository.onsale.name

  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the 30 newest images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 30
      }
      action = { type = "expire" }
    }]
  })
}

resource "aws_security_group" "tasks" {
  # checkov:skip=CKV2_AWS_5: The ecs-service modules attach this group to every onsale task; checkov does not follow it across modules.
  name        = "${var.name}-tasks"
  description = "Fargate tasks of every onsale role"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "from_alb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "HTTP from the ALB to onsale serve"
  referenced_security_group_id = var.alb_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = var.alb_security_group_id
  description                  = "HTTP from the ALB to onsale serve"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
}

locals {
  # Ports the tasks open inside the VPC: Redis, Kafka (plaintext, TLS, SCRAM) and RDS Proxy.
  vpc_egress = {
    redis    = { from = 6379, to = 6379, description = "Redis" }
    kafka    = { from = 9092, to = 9096, description = "Kafka listeners" }
    postgres = { from = 5432, to = 5432, description = "RDS Proxy" }
  }

  # Ports the tasks open to the internet through NAT: AWS APIs and ECR over HTTPS, and SMTP
  # submission for ticket emails.
  internet_egress = {
    https      = { port = 443, description = "AWS APIs, ECR and the payment provider over HTTPS" }
    smtps      = { port = 465, description = "SMTP over TLS for ticket emails" }
    submission = { port = 587, description = "SMTP submission with STARTTLS for ticket emails" }
  }
}

resource "aws_vpc_security_group_egress_rule" "vpc" {
  for_each = local.vpc_egress

  security_group_id = aws_security_group.tasks.id
  description       = each.value.description
  cidr_ipv4         = var.vpc_cidr_block
  ip_protocol       = "tcp"
  from_port         = each.value.from
  to_port           = each.value.to
}

resource "aws_vpc_security_group_egress_rule" "internet" {
  for_each = local.internet_egress

  security_group_id = aws_security_group.tasks.id
  description       = each.value.description
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
}
