locals {
  issuer = trimprefix(var.oidc_issuer_url, "https://")

  # A bucket source of raw documents: the embedder reads its objects (with their tags), the consistency
  # job's full sync lists them.
  source_statements = var.source_prefix == null ? [] : [
    {
      Sid      = "ReadSourceDocuments"
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:GetObjectTagging"]
      Resource = "${var.bucket_arn}/${var.source_prefix}/*"
    },
  ]
  listed_prefixes = compact(["${var.key_prefix}/*", var.source_prefix == null ? "" : "${var.source_prefix}/*"])

  subjects = {
    chunker  = "system:serviceaccount:${var.namespace}:${var.service_accounts.chunker}"
    embedder = "system:serviceaccount:${var.namespace}:${var.service_accounts.embedder}"
    query    = "system:serviceaccount:${var.namespace}:${var.service_accounts.query}"
    # The consistency CronJob's census lists the chunk objects and, with repair, sends the missing ones'
    # notifications to the queue again.
    consistency = "system:serviceaccount:${var.namespace}:${var.service_accounts.consistency}"
    operator    = "system:serviceaccount:${var.operator_namespace}:${var.service_accounts.operator}"
  }

  policies = {
    chunker = {
      Version = "2012-10-17"
      Statement = [
        {
          Sid      = "ChunkObjects"
          Effect   = "Allow"
          Action   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
          Resource = "${var.bucket_arn}/${var.key_prefix}/*"
        },
        {
          Sid       = "ListChunkPrefix"
          Effect    = "Allow"
          Action    = "s3:ListBucket"
          Resource  = var.bucket_arn
          Condition = { StringLike = { "s3:prefix" = ["${var.key_prefix}/*"] } }
        },
      ]
    }
    embedder = {
      Version = "2012-10-17"
      Statement = concat([
        {
          Sid      = "ReadChunks"
          Effect   = "Allow"
          Action   = "s3:GetObject"
          Resource = "${var.bucket_arn}/${var.key_prefix}/*"
        },
        {
          Sid      = "ConsumeChunkQueue"
          Effect   = "Allow"
          Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
          Resource = var.queue_arn
        },
        {
          Sid      = "DeadLetter"
          Effect   = "Allow"
          Action   = ["sqs:SendMessage", "sqs:GetQueueAttributes"]
          Resource = var.dlq_arn
        },
      ], local.source_statements)
    }
    consistency = {
      Version = "2012-10-17"
      Statement = [
        {
          Sid       = "ListChunkPrefix"
          Effect    = "Allow"
          Action    = "s3:ListBucket"
          Resource  = var.bucket_arn
          Condition = { StringLike = { "s3:prefix" = local.listed_prefixes } }
        },
        {
          Sid      = "RequeueMissing"
          Effect   = "Allow"
          Action   = "sqs:SendMessage"
          Resource = var.queue_arn
        },
      ]
    }
  }
}

resource "aws_iam_role" "workload" {
  for_each = local.subjects

  name = "${var.name}-${each.key}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([{
      Effect    = "Allow"
      Principal = { Federated = var.oidc_provider_arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        StringEquals = {
          "${local.issuer}:sub" = each.value
          "${local.issuer}:aud" = "sts.amazonaws.com"
        }
      }
      }],
      # KEDA's aws-sqs-queue scaler with the `aws` pod identity owned by the workload: KEDA's operator
      # assumes the embedder's role to read the queue depth.
      each.key == "embedder" && var.keda_service_account != null ? [{
        Effect    = "Allow"
        Principal = { AWS = one(aws_iam_role.keda_operator[*].arn) }
        Action    = ["sts:AssumeRole", "sts:TagSession"]
    }] : [])
  })
  tags = merge(var.tags, { ServiceAccount = each.value })
}

# KEDA's operator, when the cluster runs it: its own role (annotate its service account with the output
# keda_operator_role_arn), allowed only to assume the embedder's role.
resource "aws_iam_role" "keda_operator" {
  count = var.keda_service_account == null ? 0 : 1

  name = "${var.name}-keda-operator"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Federated = var.oidc_provider_arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        StringEquals = {
          "${local.issuer}:sub" = "system:serviceaccount:${var.keda_service_account.namespace}:${var.keda_service_account.name}"
          "${local.issuer}:aud" = "sts.amazonaws.com"
        }
      }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "keda_operator" {
  count = var.keda_service_account == null ? 0 : 1

  name = "${var.name}-keda-operator"
  role = aws_iam_role.keda_operator[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "AssumeEmbedderRole"
      Effect   = "Allow"
      Action   = ["sts:AssumeRole", "sts:TagSession"]
      Resource = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:role/${var.name}-embedder"
    }]
  })
}

data "aws_caller_identity" "current" {}

# Only the chunker, the embedder and the consistency job get permissions; query and operator roles have none.
resource "aws_iam_role_policy" "workload" {
  for_each = local.policies

  name   = "${var.name}-${each.key}"
  role   = aws_iam_role.workload[each.key].id
  policy = jsonencode(each.value)
}
