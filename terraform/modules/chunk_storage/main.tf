resource "aws_s3_bucket" "chunks" {
  bucket = var.bucket_name
  tags   = var.tags
}

resource "aws_s3_bucket_public_access_block" "chunks" {
  bucket                  = aws_s3_bucket.chunks.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "chunks" {
  bucket = aws_s3_bucket.chunks.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "chunks" {
  bucket = aws_s3_bucket.chunks.id
  versioning_configuration {
    status = "Enabled"
  }
}

# Versioning keeps every overwritten or deleted chunk object: old versions expire after
# noncurrent_version_retention_days, and parts of abandoned multipart uploads after a week.
resource "aws_s3_bucket_lifecycle_configuration" "chunks" {
  bucket = aws_s3_bucket.chunks.id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_retention_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # Lifecycle rules on a versioned bucket need versioning to be configured first.
  depends_on = [aws_s3_bucket_versioning.chunks]
}

resource "aws_s3_bucket_server_side_encryption_configuration" "chunks" {
  bucket = aws_s3_bucket.chunks.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn != null
  }
}

resource "aws_s3_bucket_policy" "chunks" {
  bucket = aws_s3_bucket.chunks.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.chunks.arn, "${aws_s3_bucket.chunks.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  # The public access block must exist first, otherwise AWS may reject the policy call.
  depends_on = [aws_s3_bucket_public_access_block.chunks]
}

resource "aws_sqs_queue" "dlq" {
  name                      = "${var.queue_name}-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

resource "aws_sqs_queue" "chunks" {
  name                       = var.queue_name
  visibility_timeout_seconds = var.visibility_timeout_seconds
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = var.tags
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.chunks.arn]
  })
}

resource "aws_sqs_queue_policy" "chunks" {
  queue_url = aws_sqs_queue.chunks.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AllowChunkBucketNotifications"
      Effect    = "Allow"
      Principal = { Service = "s3.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.chunks.arn
      Condition = { ArnEquals = { "aws:SourceArn" = aws_s3_bucket.chunks.arn } }
    }]
  })
}

resource "aws_s3_bucket_notification" "chunks" {
  bucket = aws_s3_bucket.chunks.id

  queue {
    id            = "chunk-created"
    queue_arn     = aws_sqs_queue.chunks.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = "${var.key_prefix}/"
  }

  # A bucket source of raw documents (RagPipeline spec.source.documents): created files are ingested and
  # removed ones deleted, so both kinds of event go to the same queue.
  dynamic "queue" {
    for_each = var.source_prefix == null ? [] : [var.source_prefix]
    content {
      id            = "source-documents"
      queue_arn     = aws_sqs_queue.chunks.arn
      events        = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
      filter_prefix = "${queue.value}/"
    }
  }

  lifecycle {
    precondition {
      condition = var.source_prefix == null ? true : (
        !startswith("${var.source_prefix}/", "${var.key_prefix}/") && !startswith("${var.key_prefix}/", "${var.source_prefix}/")
      )
      error_message = "source_prefix and key_prefix must not contain each other: S3 refuses overlapping notification prefixes"
    }
  }

  # S3 tests the destination when the notification is saved: the queue policy must be in place.
  depends_on = [aws_sqs_queue_policy.chunks]
}
