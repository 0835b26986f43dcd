# One onsale role as a Fargate service: a task definition that runs the shared image with the
# role's subcommand, an ECS service, and the role's own target-tracking scaling policy.

data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  has_http    = var.container_port != null
  has_secrets = length(var.secret_arns) > 0

  container = {
    name      = "onsale"
    image     = var.image
    command   = var.command
    essential = true

    environment = [for key in sort(keys(var.environment)) : { name = key, value = var.environment[key] }]
    secrets     = [for key in sort(keys(var.secrets)) : { name = key, valueFrom = var.secrets[key] }]

    portMappings = local.has_http ? [{ containerPort = var.container_port, protocol = "tcp" }] : []

    # The image's file system stays read-only; /data is the task's own scratch space (the mail
    # directory of a ticket worker without SMTP, for example).
    readonlyRootFilesystem = true
    mountPoints            = [{ sourceVolume = "data", containerPath = "/data", readOnly = false }]

    # Each waiting-room WebSocket holds a file descriptor.
    ulimits = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]

    linuxParameters = { initProcessEnabled = true }
    stopTimeout     = var.stop_timeout_seconds

    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = data.aws_region.current.region
        awslogs-stream-prefix = "onsale"
      }
    }
  }
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/onsale/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# The execution role is what ECS uses to start the task: pull the image, create log streams and
# read this role's secrets, and no other secret.
resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "secrets" {
  count = local.has_secrets ? 1 : 0

  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = var.secret_arns
  }

  statement {
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "secrets" {
  count = local.has_secrets ? 1 : 0

  name   = "read-role-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.secrets[0].json
}

# The task role is what the onsale process itself may call in AWS. onsale calls no AWS API, so
# it has no policy; it exists so that operators can attach one (ECS Exec, for example).
resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = jsonencode([local.container])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "data"
  }
}

resource "aws_ecs_service" "this" {
  count = var.run_as_service ? 1 : 0

  name            = var.name
  cluster         = var.cluster_id
  task_definition = aws_ecs_task_definition.this.arn
  launch_type     = "FARGATE"
  # Application Auto Scaling owns the count after creation (see the lifecycle block).
  desired_count = var.enabled ? var.min_capacity : 0

  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = local.has_http ? 30 : null
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = var.target_group_arn == null ? [] : [var.target_group_arn]

    content {
      target_group_arn = load_balancer.value
      container_name   = "onsale"
      container_port   = var.container_port
    }
  }

  lifecycle {
    ignore_changes = [desired_count]
  }
}

resource "aws_appautoscaling_target" "this" {
  count = var.run_as_service ? 1 : 0

  service_namespace  = "ecs"
  resource_id        = "service/${var.cluster_name}/${aws_ecs_service.this[0].name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.enabled ? var.min_capacity : 0
  max_capacity       = var.enabled ? var.max_capacity : 0
}

resource "aws_appautoscaling_policy" "this" {
  count = var.run_as_service ? 1 : 0

  name               = "${var.name}-${var.scaling_metric}"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value = var.scaling_target
    # Scale out fast when an onsale opens, scale in slowly after it.
    scale_out_cooldown = 30
    scale_in_cooldown  = 300

    predefined_metric_specification {
      predefined_metric_type = var.scaling_metric == "cpu" ? "ECSServiceAverageCPUUtilization" : "ALBRequestCountPerTarget"
      resource_label         = var.scaling_metric == "alb_requests" ? var.alb_resource_label : null
    }
  }
}

resource "aws_appautoscaling_scheduled_action" "this" {
  for_each = var.run_as_service ? { for action in var.scheduled_capacity : action.name => action } : {}

  name               = "${var.name}-${each.key}"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  schedule           = each.value.schedule

  scalable_target_action {
    min_capacity = each.value.min_capacity
    max_capacity = each.value.max_capacity
  }
}
