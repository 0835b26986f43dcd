# The ALB in front of the `onsale serve` tasks. It accepts HTTPS only, and by default only from
# CloudFront's origin-facing servers, so the CDN's cache and the Lambda@Edge gate cannot be
# bypassed by calling the origin directly.

data "aws_ec2_managed_prefix_list" "cloudfront" {
  name = "com.amazonaws.global.cloudfront.origin-facing"
}

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "ALB of onsale: HTTPS from CloudFront"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "cloudfront" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from CloudFront origin-facing servers"
  prefix_list_id    = data.aws_ec2_managed_prefix_list.cloudfront.id
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "extra" {
  for_each = toset(var.extra_ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from an operator range"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_lb" "alb" {
  # checkov:skip=CKV_AWS_150: Deletion protection is a variable that defaults to true and is on in examples/full; examples/staging turns it off so that the stack can be destroyed.
  # checkov:skip=CKV2_AWS_28: The WAF web ACL sits on the CloudFront distribution, and the security group admits only CloudFront's origin-facing servers, so every request has passed the WAF already.
  name               = "${var.name}-alb"
  load_balancer_type = "application"
  internal           = false
  subnets            = var.subnet_ids
  security_groups    = [aws_security_group.alb.id]

  drop_invalid_header_fields = true
  idle_timeout               = var.idle_timeout_seconds
  enable_deletion_protection = var.deletion_protection

  access_logs {
    bucket  = var.access_log_bucket
    prefix  = var.access_log_prefix
    enabled = true
  }
}

resource "aws_lb_target_group" "serve" {
  name        = "${var.name}-serve"
  vpc_id      = var.vpc_id
  target_type = "ip"
  protocol    = "HTTP"
  port        = var.container_port

  # Leave a draining task 30 seconds: HTTP requests finish well within that, and waiting-room
  # sockets reconnect to another task and get their place back.
  deregistration_delay = 30

  health_check {
    path                = "/readyz"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.alb.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.serve.arn
  }
}
