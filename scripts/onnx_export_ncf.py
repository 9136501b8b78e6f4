"""Rule onnx_export_ncf: NeuMF weights -> ONNX (user, movies -> scores), checked against
PyTorch on every test query."""

from workflow.data.movielens import read_interactions
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.checkpoint import load_state_dict
from workflow.models.export import onnx_from_torch, parity_report
from workflow.models.ncf import OUTPUT_NAME, neumf, predict_scores

log_to(snakemake.log[0])
params = snakemake.params
data = read_interactions(snakemake.input.data)
model = load_state_dict(
    neumf(data.num_users, data.num_movies, factors=params.factors, layers=list(params.layers)),
    snakemake.input.weights,
)
users, movies = data.candidates()
feeds = {"user": users, "movies": movies}
graph = onnx_from_torch(model, feeds, output_name=OUTPUT_NAME, opset=params.opset)
parity = parity_report(
    predict_scores(model, users, movies, batch_size=params.batch_size),
    graph,
    feeds,
    output_name=OUTPUT_NAME,
    batch_size=params.batch_size,
    tolerance=params.tolerance,
    framework="PyTorch",
)
write_json_atomically(snakemake.output.parity, parity)
write_atomically(snakemake.output.onnx, graph)
