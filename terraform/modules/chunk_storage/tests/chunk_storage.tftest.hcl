mock_provider "aws" {
  mock_resource "aws_s3_bucket" {
    defaults = {
      arn = "arn:aws:s3:::faro-chunks-test"
    }
  }
  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:eu-west-1:123456789012:faro-chunks"
      url = "https://sqs.eu-west-1.amazonaws.com/123456789012/faro-chunks"
    }
  }
}

variables {
  bucket_name = "faro-chunks-test"
  queue_name  = "faro-chunks"
}

run "bucket_is_private_encrypted_versioned" {
  command = plan

  assert {
    condition = (
      aws_s3_bucket_public_access_block.chunks.block_public_acls &&
      aws_s3_bucket_public_access_block.chunks.block_public_policy &&
      aws_s3_bucket_public_access_block.chunks.ignore_public_acls &&
      aws_s3_bucket_public_access_block.chunks.restrict_public_buckets
    )
    error_message = "all four public access block settings must be true"
  }

  assert {
    condition     = aws_s3_bucket_versioning.chunks.versioning_configuration[0].status == "Enabled"
    error_message = "versioning must be enabled"
  }

  assert {
    condition = (
      one(aws_s3_bucket_lifecycle_configuration.chunks.rule).noncurrent_version_expiration[0].noncurrent_days == 30 &&
      one(aws_s3_bucket_lifecycle_configuration.chunks.rule).abort_incomplete_multipart_upload[0].days_after_initiation == 7
    )
    error_message = "old chunk versions must expire after 30 days and abandoned uploads after 7"
  }

  assert {
    condition     = one([for r in aws_s3_bucket_server_side_encryption_configuration.chunks.rule : r.apply_server_side_encryption_by_default[0].sse_algorithm]) == "AES256"
    error_message = "SSE must be on (AES256 without a KMS key)"
  }

  assert {
    condition     = one(aws_s3_bucket_notification.chunks.queue).events == toset(["s3:ObjectCreated:*"])
    error_message = "the notification must send s3:ObjectCreated:* events"
  }

  assert {
    condition     = one(aws_s3_bucket_notification.chunks.queue).filter_prefix == "chunks/"
    error_message = "the notification must filter on the key prefix"
  }
}

run "policies_tls_only_and_s3_source" {
  command = apply

  assert {
    condition = anytrue([
      for s in jsondecode(aws_s3_bucket_policy.chunks.policy).Statement :
      s.Effect == "Deny" && s.Principal == "*" && s.Condition.Bool["aws:SecureTransport"] == "false"
      && contains(s.Resource, "arn:aws:s3:::faro-chunks-test/*")
    ])
    error_message = "the bucket policy must deny every non-TLS request on the bucket and its objects"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_sqs_queue_policy.chunks.policy).Statement :
      s.Principal == { Service = "s3.amazonaws.com" } && s.Action == "sqs:SendMessage"
      && s.Condition.ArnEquals["aws:SourceArn"] == "arn:aws:s3:::faro-chunks-test"
    ])
    error_message = "the queue policy must allow only s3.amazonaws.com with aws:SourceArn = the chunk bucket"
  }

  assert {
    condition     = jsondecode(aws_sqs_queue.chunks.redrive_policy).maxReceiveCount == 20
    error_message = "maxReceiveCount must default to 20"
  }

  assert {
    condition     = jsondecode(aws_sqs_queue.chunks.redrive_policy).deadLetterTargetArn == aws_sqs_queue.dlq.arn
    error_message = "the redrive policy must target the DLQ"
  }

  assert {
    condition     = one(aws_s3_bucket_notification.chunks.queue).queue_arn == aws_sqs_queue.chunks.arn
    error_message = "the notification must target the chunk queue"
  }
}

run "custom_prefix_and_receive_count" {
  command = apply

  variables {
    key_prefix        = "tenant-a/chunks"
    max_receive_count = 5
    kms_key_arn       = "arn:aws:kms:eu-west-1:123456789012:key/abc"
  }

  assert {
    condition     = one(aws_s3_bucket_notification.chunks.queue).filter_prefix == "tenant-a/chunks/"
    error_message = "key_prefix must flow into the notification filter"
  }

  assert {
    condition     = jsondecode(aws_sqs_queue.chunks.redrive_policy).maxReceiveCount == 5
    error_message = "max_receive_count must flow into the redrive policy"
  }

  assert {
    condition     = one([for r in aws_s3_bucket_server_side_encryption_configuration.chunks.rule : r.apply_server_side_encryption_by_default[0].sse_algorithm]) == "aws:kms"
    error_message = "a KMS key must switch SSE to aws:kms"
  }
}

run "bucket_source_notifies_created_and_removed" {
  command = apply

  variables {
    source_prefix = "raw/docs"
  }

  assert {
    condition     = length(aws_s3_bucket_notification.chunks.queue) == 2
    error_message = "a bucket source adds a second notification"
  }

  assert {
    condition = one([
      for q in aws_s3_bucket_notification.chunks.queue : q if q.filter_prefix == "raw/docs/"
    ]).events == toset(["s3:ObjectCreated:*", "s3:ObjectRemoved:*"])
    error_message = "the source's notification must send created and removed events"
  }

  assert {
    condition = alltrue([
      for q in aws_s3_bucket_notification.chunks.queue : q.queue_arn == aws_sqs_queue.chunks.arn
    ])
    error_message = "both notifications go to the chunk queue"
  }
}

run "overlapping_source_prefix_is_refused" {
  command = plan

  variables {
    source_prefix = "chunks/raw"
  }

  expect_failures = [aws_s3_bucket_notification.chunks]
}
