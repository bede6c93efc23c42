output "role_arns" {
  description = "IAM role ARN per workload (chunker, embedder, query, consistency, operator), for the eks.amazonaws.com/role-arn annotation."
  value       = { for k, r in aws_iam_role.workload : k => r.arn }
}

output "service_account_subjects" {
  description = "The service account each role trusts."
  value       = local.subjects
}

output "keda_operator_role_arn" {
  description = "IAM role ARN for KEDA's operator service account (eks.amazonaws.com/role-arn), or null without keda_service_account."
  value       = one(aws_iam_role.keda_operator[*].arn)
}
