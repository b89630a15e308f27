#!/bin/bash
# medtune tune on a SLURM cluster: one task per node, each starting `accelerate launch` for its GPUs.
#   sbatch tuning/accelerate/slurm.sh tuning/recipes/sft_pubmedqa_smollm2.yaml
# The repository, its venv, MEDTUNE_DATA, the base model and the variants folder must be on a file
# system every node sees. Rank 0 (node 0, GPU 0) alone writes the variant and registers it in the DB
# (MEDTUNE_DB): keep the DB file on that shared file system too.
#SBATCH --job-name=medtune-tune
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --time=24:00:00
#SBATCH --output=medtune-tune-%j.log
set -euo pipefail

RECIPE=${1:?usage: sbatch tuning/accelerate/slurm.sh RECIPE [medtune tune options]}
shift
CONFIG=${MEDTUNE_ACCELERATE_CONFIG:-tuning/accelerate/multinode_fsdp2.yaml}
GPUS_PER_NODE=${SLURM_GPUS_ON_NODE:-8}
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
MASTER_PORT=${MASTER_PORT:-29500}
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=8

# $SLURM_NODEID is expanded on each node (single quotes keep it from the batch host's shell)
srun --kill-on-bad-exit=1 bash -c 'accelerate launch --config_file "'"$CONFIG"'" \
    --num_machines "$SLURM_NNODES" --num_processes $(( SLURM_NNODES * '"$GPUS_PER_NODE"' )) \
    --machine_rank "$SLURM_NODEID" --main_process_ip "'"$MASTER_ADDR"'" --main_process_port '"$MASTER_PORT"' \
    --rdzv_backend c10d -m medtune tune "$@"' _ "$RECIPE" "$@"
