"""What a model is fed, prepared once and cached: backbone features of a video's frame grid, decoded frames
for clip models, feature tracks of long recordings, TSN views cut from them, and pose landmarks."""
