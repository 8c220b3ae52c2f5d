
proot.layer_with_weights-0"_tf_keras_layer*@{"name": "dense", "class_name": "Dense", "config": {"units": 4}}