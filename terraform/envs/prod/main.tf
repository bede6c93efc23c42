locals {
  name = "faro-${var.environment}"
}

module "network" {
  source   = "../../modules/network"
  name     = local.name
  vpc_cidr = var.vpc_cidr
  azs      = var.azs
}

module "security_groups" {
  source          = "../../modules/security_groups"
  name            = local.name
  vpc_id          = module.network.vpc_id
  vpn_client_cidr = var.vpn_client_cidr
}

module "chunk_storage" {
  source        = "../../modules/chunk_storage"
  bucket_name   = var.chunk_bucket_name
  queue_name    = "${local.name}-chunks"
  key_prefix    = var.chunk_key_prefix
  source_prefix = var.source_documents_prefix
}

module "rds" {
  source             = "../../modules/rds"
  name               = "${local.name}-pg"
  private_subnet_ids = module.network.private_subnet_ids
  security_group_id  = module.security_groups.rds_sg_id
  read_replica       = var.rds_read_replica
}

module "qdrant" {
  source                = "../../modules/qdrant_ec2"
  name                  = local.name
  subnet_id             = module.network.private_subnet_ids[0]
  peer_subnet_ids       = slice(module.network.private_subnet_ids, 1, length(module.network.private_subnet_ids))
  node_count            = var.qdrant_node_count
  security_group_id     = module.security_groups.qdrant_sg_id
  ami_id                = var.qdrant_ami_id
  api_key_parameter_arn = var.qdrant_api_key_parameter_arn
}

module "eks" {
  source                        = "../../modules/eks"
  cluster_name                  = local.name
  kubernetes_version            = var.kubernetes_version
  private_subnet_ids            = module.network.private_subnet_ids
  node_security_group_id        = module.security_groups.nodes_sg_id
  api_access_security_group_ids = [module.security_groups.bastion_sg_id]
}

module "irsa" {
  source             = "../../modules/irsa"
  name               = local.name
  oidc_provider_arn  = module.eks.oidc_provider_arn
  oidc_issuer_url    = module.eks.oidc_issuer_url
  namespace          = var.workload_namespace
  operator_namespace = var.operator_namespace
  bucket_arn         = module.chunk_storage.bucket_arn
  key_prefix         = var.chunk_key_prefix
  source_prefix      = var.source_documents_prefix
  queue_arn          = module.chunk_storage.queue_arn
  dlq_arn            = module.chunk_storage.dlq_arn

  keda_service_account = var.keda_service_account
}

module "bastion" {
  source            = "../../modules/bastion"
  name              = local.name
  public_subnet_id  = module.network.public_subnet_ids[0]
  security_group_id = module.security_groups.bastion_sg_id
  ami_id            = var.bastion_ami_id
  key_name          = var.bastion_key_name
  vpc_cidr          = var.vpc_cidr
}
