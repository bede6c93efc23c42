mock_provider "aws" {}

variables {
  name              = "faro-test"
  oidc_provider_arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC123"
  oidc_issuer_url   = "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC123"
  bucket_arn        = "arn:aws:s3:::faro-chunks-test"
  queue_arn         = "arn:aws:sqs:eu-west-1:123456789012:faro-chunks"
  dlq_arn           = "arn:aws:sqs:eu-west-1:123456789012:faro-chunks-dlq"
}

run "trust_bound_to_service_accounts" {
  command = plan

  assert {
    condition     = toset(keys(aws_iam_role.workload)) == toset(["chunker", "embedder", "query", "consistency", "operator"])
    error_message = "one role per workload expected"
  }

  assert {
    condition = alltrue([
      for k, sa in { chunker = "faro:faro-chunker", embedder = "faro:faro-embedder", query = "faro:faro-query", consistency = "faro:faro-consistency", operator = "faro-system:faro-operator" } :
      jsondecode(aws_iam_role.workload[k].assume_role_policy).Statement[0].Condition.StringEquals == {
        "oidc.eks.eu-west-1.amazonaws.com/id/ABC123:sub" = "system:serviceaccount:${sa}"
        "oidc.eks.eu-west-1.amazonaws.com/id/ABC123:aud" = "sts.amazonaws.com"
      }
    ])
    error_message = "each trust policy must be bound to exactly its namespace:service account and audience sts.amazonaws.com"
  }

  assert {
    condition = alltrue([
      for r in aws_iam_role.workload :
      jsondecode(r.assume_role_policy).Statement[0].Principal.Federated == var.oidc_provider_arn &&
      jsondecode(r.assume_role_policy).Statement[0].Action == "sts:AssumeRoleWithWebIdentity" &&
      length(jsondecode(r.assume_role_policy).Statement) == 1
    ])
    error_message = "trust must be only the cluster's OIDC provider via AssumeRoleWithWebIdentity"
  }

  assert {
    condition     = toset(keys(aws_iam_role_policy.workload)) == toset(["chunker", "embedder", "consistency"])
    error_message = "query and operator roles must have no permissions"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.workload["chunker"].policy).Statement :
      s.Resource == "arn:aws:s3:::faro-chunks-test/chunks/*" || (s.Resource == "arn:aws:s3:::faro-chunks-test" && s.Action == "s3:ListBucket")
    ])
    error_message = "chunker permissions must be scoped to the bucket and the chunk prefix"
  }

  assert {
    condition = toset(flatten([for s in jsondecode(aws_iam_role_policy.workload["chunker"].policy).Statement : s.Action])) == toset(
      ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:ListBucket"]
    )
    error_message = "chunker must get exactly Put/Get/Delete object and ListBucket"
  }

  assert {
    condition = toset(flatten([for s in jsondecode(aws_iam_role_policy.workload["embedder"].policy).Statement : s.Action])) == toset(
      ["s3:GetObject", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:SendMessage"]
    )
    error_message = "embedder must get exactly s3:GetObject and the SQS consume actions (+ SendMessage to the DLQ)"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.workload["embedder"].policy).Statement :
      !contains(flatten([s.Action]), "sqs:SendMessage") || s.Resource == var.dlq_arn
    ])
    error_message = "embedder may send messages only to the DLQ"
  }

  assert {
    condition = toset(flatten([for s in jsondecode(aws_iam_role_policy.workload["consistency"].policy).Statement : s.Action])) == toset(
      ["s3:ListBucket", "sqs:SendMessage"]
    )
    error_message = "the consistency job must get exactly ListBucket (census) and SendMessage (requeue)"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.workload["consistency"].policy).Statement :
      (s.Action == "s3:ListBucket" && s.Resource == var.bucket_arn && try(s.Condition.StringLike["s3:prefix"], null) == ["chunks/*"]) ||
      (s.Action == "sqs:SendMessage" && s.Resource == var.queue_arn)
    ])
    error_message = "the consistency job may list only the chunk prefix and send only to the chunk queue"
  }
}

run "custom_namespace" {
  command = plan

  variables {
    namespace = "rag"
  }

  assert {
    condition     = jsondecode(aws_iam_role.workload["embedder"].assume_role_policy).Statement[0].Condition.StringEquals["oidc.eks.eu-west-1.amazonaws.com/id/ABC123:sub"] == "system:serviceaccount:rag:faro-embedder"
    error_message = "namespace must flow into the subject"
  }
}

run "bucket_source_read_by_the_embedder_and_listed_by_the_sync" {
  command = plan

  variables {
    source_prefix = "raw/docs"
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_role_policy.workload["embedder"].policy).Statement :
      s.Resource == "arn:aws:s3:::faro-chunks-test/raw/docs/*" && toset(flatten([s.Action])) == toset(["s3:GetObject", "s3:GetObjectTagging"])
    ])
    error_message = "the embedder must read the source's objects and their tags, nothing more"
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_role_policy.workload["consistency"].policy).Statement :
      s.Action == "s3:ListBucket" && try(s.Condition.StringLike["s3:prefix"], null) == ["chunks/*", "raw/docs/*"]
    ])
    error_message = "the consistency job must list the chunk and the source prefixes"
  }
}

run "no_keda_role_by_default" {
  command = plan

  assert {
    condition     = length(aws_iam_role.keda_operator) == 0 && output.keda_operator_role_arn == null
    error_message = "no KEDA role unless keda_service_account is set"
  }
}

run "keda_assumes_the_embedder_role_and_nothing_else" {
  command = apply

  variables {
    keda_service_account = { namespace = "keda", name = "keda-operator" }
  }

  override_data {
    target = data.aws_caller_identity.current
    values = { account_id = "123456789012" }
  }

  assert {
    condition = jsondecode(aws_iam_role.keda_operator[0].assume_role_policy).Statement[0].Condition.StringEquals == {
      "oidc.eks.eu-west-1.amazonaws.com/id/ABC123:sub" = "system:serviceaccount:keda:keda-operator"
      "oidc.eks.eu-west-1.amazonaws.com/id/ABC123:aud" = "sts.amazonaws.com"
    }
    error_message = "the KEDA role must trust exactly KEDA's service account"
  }

  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.keda_operator[0].policy).Statement : s.Resource] == [
      "arn:aws:iam::123456789012:role/faro-test-embedder"
    ]
    error_message = "the KEDA role may assume only the embedder's role"
  }

  assert {
    condition = [
      for s in jsondecode(aws_iam_role.workload["embedder"].assume_role_policy).Statement : s.Principal
      ] == [
      { Federated = var.oidc_provider_arn },
      { AWS = aws_iam_role.keda_operator[0].arn },
    ]
    error_message = "the embedder's role must trust its service account and KEDA's role"
  }

  assert {
    condition = alltrue([
      for k, r in aws_iam_role.workload : k == "embedder" || length(jsondecode(r.assume_role_policy).Statement) == 1
    ])
    error_message = "no other workload role may trust KEDA"
  }
}
